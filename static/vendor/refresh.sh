#!/bin/sh
# Refreshes the vendored JavaScript from npm (`make vendor`): the built files only, with
# their licence, as Django's admin vendors its own. Bump a version here, run it, commit.
set -eu
WAVESURFER=8.0.1
SORTABLE=1.15.7
TUS=4.3.1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "wavesurfer.js@$WAVESURFER" "sortablejs@$SORTABLE" "tus-js-client@$TUS" >/dev/null
mkdir wavesurfer sortable tus
tar xzf "wavesurfer.js-$WAVESURFER.tgz" -C wavesurfer
tar xzf "sortablejs-$SORTABLE.tgz" -C sortable
tar xzf "tus-js-client-$TUS.tgz" -C tus
out="$here/wavesurfer"
rm -rf "$out" && mkdir -p "$out"
cp wavesurfer/package/dist/wavesurfer.min.js "$out/"
cp wavesurfer/package/dist/plugins/regions.min.js wavesurfer/package/dist/plugins/timeline.min.js "$out/"
cp wavesurfer/package/LICENSE "$out/LICENSE"
echo "wavesurfer.js $WAVESURFER (BSD-3-Clause) from npm: dist/wavesurfer.min.js, dist/plugins/regions.min.js, dist/plugins/timeline.min.js" > "$out/VERSION"
out="$here/sortable"
rm -rf "$out" && mkdir -p "$out"
cp sortable/package/Sortable.min.js sortable/package/LICENSE "$out/"
echo "sortablejs $SORTABLE (MIT) from npm: Sortable.min.js" > "$out/VERSION"
out="$here/tus"
rm -rf "$out" && mkdir -p "$out"
cp tus/package/dist/tus.min.js tus/package/LICENSE "$out/"
echo "tus-js-client $TUS (MIT) from npm: dist/tus.min.js" > "$out/VERSION"

"""Receiving uploaded files."""

from django.core.files.uploadhandler import TemporaryFileUploadHandler


class ScratchUploadHandler(TemporaryFileUploadHandler):
    """Streams each uploaded file to a temporary file in scratch (FILE_UPLOAD_TEMP_DIR).

    When writing fails (a full disk), the partial file is closed, and so deleted, at once:
    Django would leave it open, holding its space, until the garbage collector came.
    """

    def receive_data_chunk(self, raw_data, start):
        try:
            return super().receive_data_chunk(raw_data, start)
        except OSError:
            self._discard()
            raise

    def file_complete(self, file_size):
        try:
            return super().file_complete(file_size)  # flushes the last buffered bytes
        except OSError:
            self._discard()
            raise

    def _discard(self) -> None:
        try:
            self.file.close()  # a NamedTemporaryFile: deleted on close, even if this fails
        except OSError:
            pass  # the buffered bytes failing again, for the same reason being raised

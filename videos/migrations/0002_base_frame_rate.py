from django.db import migrations, models


def copy_average_rate(apps, schema_editor):
    # Videos probed before this field existed are treated as constant-rate.
    Video = apps.get_model("videos", "Video")
    Video.objects.update(base_frame_rate=models.F("frame_rate"))


class Migration(migrations.Migration):
    dependencies = [("videos", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="video",
            name="base_frame_rate",
            field=models.CharField(
                default="",
                help_text="the stream's tick rate; differs from the average if variable",
                max_length=30,
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="video",
            name="frame_rate",
            field=models.CharField(help_text="average, exact, as a fraction", max_length=30),
        ),
        migrations.RunPython(copy_average_rate, migrations.RunPython.noop),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("authflow", "0007_tenants"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenantadmin",
            name="role",
            field=models.CharField(
                choices=[("admin", "Admin"), ("helpdesk", "Helpdesk")],
                default="admin",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="tenant",
            name="client_id",
            field=models.CharField(blank=True, max_length=36),
        ),
    ]

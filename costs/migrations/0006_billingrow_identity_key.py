"""BillingRow's identity (row_hash, occurrence) becomes its primary key, in place of an id
and a unique constraint; the import it came from is no longer a database constraint.
Django does not alter a table to a composite primary key: the identities move to a new
table, which then takes the old one's name."""

from django.db import migrations, models

COLUMNS = "row_hash, occurrence, invoice_month, billing_import_id"


def copy(source: str, target: str):
    def run(apps, schema_editor):
        schema_editor.execute(
            f"INSERT INTO {target} ({COLUMNS}) SELECT {COLUMNS} FROM {source}"  # noqa: S608
        )

    return run


def rename_keys(old: str, new: str):
    """PostgreSQL names a table's key and checks after the table: keep the usual names."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"ALTER INDEX {old}_pkey RENAME TO {new}_pkey")
        schema_editor.execute(
            f"ALTER TABLE costs_billingrow RENAME CONSTRAINT {old}_occurrence_check "
            f"TO {new}_occurrence_check"
        )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0005_invoice_month_file_format"),
    ]

    operations = [
        migrations.CreateModel(
            name="BillingRowKeyed",
            fields=[
                ("pk", models.CompositePrimaryKey("row_hash", "occurrence", blank=True, editable=False, primary_key=True, serialize=False)),
                ("row_hash", models.BinaryField(max_length=16)),
                ("occurrence", models.PositiveIntegerField()),
                ("invoice_month", models.CharField(max_length=7)),
                (
                    "billing_import",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="+",
                        to="costs.billingimport",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["invoice_month"], name="billingrow_invoice_month")
                ],
            },
        ),
        migrations.RunPython(
            copy("costs_billingrow", "costs_billingrowkeyed"),
            copy("costs_billingrowkeyed", "costs_billingrow"),
        ),
        migrations.DeleteModel(name="BillingRow"),
        migrations.RenameModel(old_name="BillingRowKeyed", new_name="BillingRow"),
        migrations.RunPython(
            rename_keys("costs_billingrowkeyed", "costs_billingrow"),
            rename_keys("costs_billingrow", "costs_billingrowkeyed"),
        ),
    ]

# The escalation decisions move from the cohorts app: the tables stay (cohorts_escalationdecision and
# cohorts_historicalescalationdecision, rows kept), only Django's state moves (cohorts 0004 drops them from
# the cohorts state after this one). Content types and permissions follow the model.

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("escalationdecision", "historicalescalationdecision"):
        if not ContentType.objects.filter(app_label="escalation", model=model).exists():
            ContentType.objects.filter(app_label="cohorts", model=model).update(app_label="escalation")


def back_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("escalationdecision", "historicalescalationdecision"):
        if not ContentType.objects.filter(app_label="cohorts", model=model).exists():
            ContentType.objects.filter(app_label="escalation", model=model).update(app_label="cohorts")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('cohorts', '0003_historicalescalationdecision_escalationdecision'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='HistoricalEscalationDecision',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('action', models.CharField(max_length=12)),
                        ('rule', models.CharField(max_length=8)),
                        ('reason', models.TextField()),
                        ('slots', models.PositiveSmallIntegerField(default=0)),
                        ('tally', models.JSONField(default=list, help_text="Per level, each patient's outcome as the engine saw it")),
                        ('dlts', models.JSONField(blank=True, default=dict, help_text='{DLT id: rule onset} of the DLTs counted')),
                        ('inputs_digest', models.CharField(max_length=64)),
                        ('status', models.CharField(choices=[('proposed', 'Proposed: awaiting signature'), ('signed', 'Signed'), ('rejected', 'Rejected'), ('superseded', 'Superseded by a newer proposal')], default='proposed', max_length=10)),
                        ('proposed_at', models.DateTimeField()),
                        ('signed_at', models.DateTimeField(blank=True, null=True)),
                        ('signature_meaning', models.CharField(blank=True, max_length=300)),
                        ('rejection_reason', models.TextField(blank=True)),
                        ('needs_review', models.BooleanField(default=False)),
                        ('review_note', models.TextField(blank=True)),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.CharField(max_length=100, null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('level', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='cohorts.doselevel')),
                        ('mtd', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='cohorts.doselevel')),
                        ('signed_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('trial', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='cohorts.trial')),
                    ],
                    options={
                        'db_table': 'cohorts_historicalescalationdecision',
                'verbose_name': 'historical escalation decision',
                        'verbose_name_plural': 'historical escalation decisions',
                        'ordering': ('-history_date', '-history_id'),
                        'get_latest_by': ('history_date', 'history_id'),
                    },
                    bases=(simple_history.models.HistoricalChanges, models.Model),
                ),
                migrations.CreateModel(
                    name='EscalationDecision',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('action', models.CharField(max_length=12)),
                        ('rule', models.CharField(max_length=8)),
                        ('reason', models.TextField()),
                        ('slots', models.PositiveSmallIntegerField(default=0)),
                        ('tally', models.JSONField(default=list, help_text="Per level, each patient's outcome as the engine saw it")),
                        ('dlts', models.JSONField(blank=True, default=dict, help_text='{DLT id: rule onset} of the DLTs counted')),
                        ('inputs_digest', models.CharField(max_length=64)),
                        ('status', models.CharField(choices=[('proposed', 'Proposed: awaiting signature'), ('signed', 'Signed'), ('rejected', 'Rejected'), ('superseded', 'Superseded by a newer proposal')], default='proposed', max_length=10)),
                        ('proposed_at', models.DateTimeField()),
                        ('signed_at', models.DateTimeField(blank=True, null=True)),
                        ('signature_meaning', models.CharField(blank=True, max_length=300)),
                        ('rejection_reason', models.TextField(blank=True)),
                        ('needs_review', models.BooleanField(default=False)),
                        ('review_note', models.TextField(blank=True)),
                        ('level', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cohorts.doselevel')),
                        ('mtd', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cohorts.doselevel')),
                        ('signed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('trial', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='decisions', to='cohorts.trial')),
                    ],
                    options={
                        'db_table': 'cohorts_escalationdecision',
                'ordering': ['trial', '-proposed_at', '-id'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'proposed')), fields=('trial',), name='one_proposed_decision_per_trial')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, back_content_types),
    ]

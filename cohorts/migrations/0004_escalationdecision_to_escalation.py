# EscalationDecision moved to the escalation app (escalation 0001 takes over its tables): state only,
# the tables and their rows stay.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('cohorts', '0003_historicalescalationdecision_escalationdecision'),
        ('escalation', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='HistoricalEscalationDecision'),
                migrations.DeleteModel(name='EscalationDecision'),
            ],
            database_operations=[],
        ),
    ]

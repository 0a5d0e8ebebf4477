"""Demo and synthetic data, written through every app: `seed` (the demo set and synthetic trials),
`toxicity` (cycle-1 labs and adverse events), `response` (myeloma assessments and follow-up)."""

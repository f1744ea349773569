"""Use-cases and the Experiment facade."""

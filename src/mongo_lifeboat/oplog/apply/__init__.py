"""Applying history: the archive's entry form, update forms, index specs, and the applier that
replays entries onto a target."""

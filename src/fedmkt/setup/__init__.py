"""The set-up every driver shares: models with LoRA, training arguments, fine-tuning and scoring.

Below the baselines, the in-process runner and the Flower apps, so each builds a participant the
same way (same seed, same weights, same training order). The functions take flat arguments (the
participant's config entry, dtype, device, seed, folders, callbacks), not the run's context;
:class:`~fedmkt.setup.context.RunContext` binds them to one run for the phases.
"""

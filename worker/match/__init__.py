"""Match stage: propose the registry parcel and owner a submission is about.

Public API (the pipeline, CLI and review app call only these):
    Matcher(engine, settings)            loads the fitted model (model.json) and registry statistics once
        .propose(documents) -> list[Proposal]   at most settings.max_proposals, best first, banded
        .assess(documents, parcel_ids) -> list[Proposal]   the same scoring for parcels a reviewer found
        .registry_size() -> int
        .refresh()                       after a registry import
    train(samples_dir, out_path) -> dict fit m/u (EM), calibration (held out) from a generated sample set
    Model, MODEL_PATH                    the Fellegi-Sunter model and where the fitted one lives
"""

from worker.match.matcher import Matcher
from worker.match.model import MODEL_PATH, Model
from worker.match.train import train

__all__ = ["MODEL_PATH", "Matcher", "Model", "train"]

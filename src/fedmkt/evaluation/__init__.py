"""Scoring: log-likelihood multiple choice (acc, acc_norm), greedy generation + Rouge-L, bootstrap CIs."""

from fedmkt.evaluation.evaluate import EvalResult, evaluate

__all__ = ["EvalResult", "evaluate"]

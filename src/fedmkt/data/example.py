"""The one record type every task produces and every phase consumes.

Tasks turn raw data into `Example`s; training, evaluation and the federated
exchange only ever see these, so a new task is a loader and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One prompt with its gold continuation.

    Attributes:
        uid: stable id, unique within a task (``"arc_easy/train/Mercury_7175875"``);
            used as the public-sample key in federated messages.
        prompt: text fed to the model, ending right before the answer
            (``"Question: ...\\nAnswer:"``).
        target: gold continuation used as the SFT target, with its leading space
            (``" Paris"``). Never empty.
        choices: candidate continuations for multiple choice, each with its leading space;
            empty for generation tasks.
        gold: index of the correct choice (multiple choice) or ``None``.
        references: acceptable outputs for generation scoring (Rouge-L takes the best);
            empty for multiple choice.
        group: label or subtask name, used for non-IID (Dirichlet) partitioning.
    """

    uid: str
    prompt: str
    target: str
    choices: tuple[str, ...] = ()
    gold: int | None = None
    references: tuple[str, ...] = ()
    group: str = ""

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.choices)

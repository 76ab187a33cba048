"""Label Studio annotations as feedback rows: one row per annotation, keyed by its id.

A row is ``{"text", "labels", "document_id", "source": "label-studio", "source_project": "<project id>",
"source_ref": "<annotation id>"}``; the store replaces the row of an annotation it already holds, so a
re-sent or updated annotation never adds a second row. ``document_id`` is ``ls-<project>-<task>``: the
annotations of one task (several annotators) stay in one group when training splits the data.
"""

from __future__ import annotations

from service.label_studio.labelling_config import ChoicesTarget
from service.label_studio.schemas import Annotation, TaskRef

SOURCE = "label-studio"


class AnnotationError(ValueError):
    """A task or annotation that cannot be used; the message names it and what is wrong."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request"):
        super().__init__(message)
        self.status, self.code = status, code


def annotation_labels(annotation: Annotation, target: ChoicesTarget) -> list[str]:
    """The labels an annotation chose on the target control (none chosen: ``[]``, "no label applies")."""
    labels: set[str] = set()
    for region in annotation.result:
        if region.from_name != target.from_name or region.type not in (None, "choices"):
            continue
        choices = region.value.get("choices", [])
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise AnnotationError(f"annotation {annotation.id}: value.choices must be a list of strings")
        unknown = [c for c in choices if c not in target.labels]
        if unknown:
            raise AnnotationError(
                f"annotation {annotation.id}: choice(s) {', '.join(map(repr, unknown))} are not choices of "
                f'<Choices name="{target.from_name}"> ({", ".join(target.labels)})'
            )
        labels.update(choices)
    return sorted(labels)


def task_text(data: dict, key: str, where: str, max_chars: int) -> str:
    """The text of a task: its data field named by the `<Text>` object (`where` names the task in errors)."""
    text = data.get(key)
    if not isinstance(text, str):
        found = "missing" if text is None else f"a {type(text).__name__}, not a string"
        code = "missing_text" if text is None else "invalid_request"
        raise AnnotationError(f"{where}: data.{key} is {found}", code=code)
    if not text.strip():
        raise AnnotationError(f"{where}: data.{key} is empty", code="empty_text")
    if len(text) > max_chars:
        raise AnnotationError(
            f"{where}: data.{key} has {len(text)} characters; the limit is {max_chars}", 413, "text_too_long"
        )
    return text


def feedback_item(
    project_id: int, annotation: Annotation, task: TaskRef, target: ChoicesTarget, max_chars: int
) -> dict:
    """The feedback row of one annotation (raises `AnnotationError`)."""
    if annotation.task is not None and annotation.task != task.id:
        raise AnnotationError(f"annotation {annotation.id} belongs to task {annotation.task}, not task {task.id}")
    return {
        "text": task_text(task.data, target.text_key, f"task {task.id}", max_chars),
        "labels": annotation_labels(annotation, target),
        "document_id": f"ls-{project_id}-{task.id}",
        "source": SOURCE,
        "source_project": str(project_id),
        "source_ref": str(annotation.id),
        "annotator": annotation.annotator(),
    }

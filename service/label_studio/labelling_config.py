"""Reading a Label Studio labelling config: which `<Choices>` control over which `<Text>` object we serve.

Label Studio describes a project's labelling interface as XML, for example::

    <View>
      <Text name="text" value="$text"/>
      <Choices name="labels" toName="text" choice="multiple">
        <Choice value="hybrid_threat_warning"/>
        <Choice value="sabotage_mention"/>
        <Choice value="support_statement"/>
      </Choices>
    </View>

A choice's name in annotation results is its ``alias`` when it has one, else its ``value`` (Label Studio's
own ``parse_config`` does the same), so ``<Choice value="Sabotage" alias="sabotage_mention"/>`` shows
"Sabotage" to the annotator and stores ``sabotage_mention``. Tag names are case-sensitive, as in Label Studio.
The XML is parsed by the standard library (expat refuses entity-expansion bombs; external entities are
never fetched).
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

MAX_CONFIG_CHARS = 200_000
MULTIPLE = "multiple"


class LabelConfigError(ValueError):
    """The labelling config cannot be served: the message names what is missing or wrong."""


@dataclass(frozen=True)
class ChoicesTarget:
    """The `<Choices>` control we predict and learn from, and the `<Text>` object it labels."""

    from_name: str  # the <Choices> control's name: "from_name" of results
    to_name: str  # the <Text> object's name: "to_name" of results
    text_key: str  # the task data field holding the text ("$text" -> "text")
    labels: tuple[str, ...]  # the model labels offered as choices (a choice's name is its alias or value)
    multiple: bool  # choice="multiple": several choices per task


def _describe(tag: ET.Element) -> str:
    name = tag.get("name")
    return f'<{tag.tag} name="{name}">' if name else f"<{tag.tag}>"


def _text_objects(root: ET.Element) -> dict[str, str]:
    """<Text> objects that show task data: name -> data key (static text without "$" is not data)."""
    found = {}
    for tag in root.iter("Text"):
        name, value = tag.get("name"), tag.get("value") or ""
        if name and value.startswith("$") and len(value) > 1:
            found[name] = value[1:]
    return found


def _choice_names(control: ET.Element) -> list[str]:
    names = []
    for choice in control.iter("Choice"):
        name = choice.get("alias") or choice.get("value")
        if name and name not in names:
            names.append(name)
    return names


@functools.lru_cache(maxsize=64)
def parse_label_config(config: str, model_labels: Sequence[str]) -> ChoicesTarget:
    """The first `<Choices>` control over a `<Text>` object whose choices are all model labels.

    `model_labels` must be hashable (a tuple). Raises `LabelConfigError` naming what is missing: no
    XML, no `<Text>` object, no `<Choices>` over one, or choices that are not model labels.
    """
    if not isinstance(config, str) or not config.strip():
        raise LabelConfigError("the labelling config is empty")
    if len(config) > MAX_CONFIG_CHARS:
        raise LabelConfigError(f"the labelling config has {len(config)} characters; the limit is {MAX_CONFIG_CHARS}")
    try:
        root = ET.fromstring(config)
    except ET.ParseError as exc:
        raise LabelConfigError(f"the labelling config is not valid XML: {exc}") from None
    texts = _text_objects(root)
    if not texts:
        raise LabelConfigError(
            'the labelling config has no <Text> object showing task data (e.g. <Text name="text" value="$text"/>)'
        )
    controls = [c for c in root.iter("Choices") if c.get("perRegion", "").lower() != "true"]
    over_text = []
    for control in controls:
        targets = [name.strip() for name in (control.get("toName") or "").split(",") if name.strip() in texts]
        if control.get("name") and targets:
            over_text.append((control, targets[0]))
    if not over_text:
        found = ", ".join(_describe(c) + f' toName="{c.get("toName")}"' for c in controls) or "none"
        raise LabelConfigError(
            f"the labelling config has no <Choices> control over a <Text> object "
            f"(<Text> objects: {', '.join(sorted(texts))}; <Choices> controls: {found})"
        )
    problems = []
    known = set(model_labels)
    for control, to_name in over_text:
        if (control.get("value") or "").startswith("$"):
            problems.append(f"{_describe(control)} takes its choices from task data ({control.get('value')})")
            continue
        names = _choice_names(control)
        if not names:
            problems.append(f"{_describe(control)} has no <Choice> elements")
            continue
        unknown = [name for name in names if name not in known]
        if unknown:
            problems.append(f"{_describe(control)} has choices that are not model labels: {', '.join(unknown)}")
            continue
        return ChoicesTarget(
            from_name=control.get("name"),
            to_name=to_name,
            text_key=texts[to_name],
            labels=tuple(names),
            multiple=(control.get("choice") or "").lower() == MULTIPLE,
        )
    raise LabelConfigError(f"{'; '.join(problems)}; the model's labels are: {', '.join(model_labels)}")

"""Request bodies of the review-queue routes (pydantic v2 models) and their errors in the API's words.

Models are strict (no coercion: a number is not a string) and forbid unknown fields. A validation
error becomes one message naming the field, in the style of the rest of the API: ``'documents' must
be a list``, ``documents[0].text must be a string``, ``passages[2]: unknown field 'txt'``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

_SURROGATE = re.compile("[\ud800-\udfff]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _unicode(value: str) -> str:
    """`value` if it is valid Unicode: JSON may carry lone surrogates (``"\\ud800"``) that no UTF-8 store takes."""
    found = None if value.isascii() else _SURROGATE.search(value)
    if found:
        raise PydanticCustomError(
            "unicode", "is not valid Unicode (a lone surrogate at character {index})", {"index": found.start()}
        )
    return value


def _document_id(value):
    """A document id as text: strings as given, integers in decimal; anything else is refused."""
    if value is None:
        return value
    if isinstance(value, str):
        return _unicode(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise PydanticCustomError("document_id", "must be a string or integer")


Text = Annotated[str, AfterValidator(_unicode)]


class PassageIn(_Strict):
    """One passage to queue as it is (not segmented)."""

    text: Text
    document_id: str | None = None

    _id = field_validator("document_id", mode="before")(_document_id)


class DocumentIn(_Strict):
    """One document to segment into passages (each keeps the document id and its offsets)."""

    id: str | None = None
    text: Text

    _id = field_validator("id", mode="before")(_document_id)


class AddRequest(_Strict):
    """Body of ``POST /v1/queue``: exactly one of `passages` or `documents`."""

    passages: list[PassageIn] | None = None
    documents: list[DocumentIn] | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.passages is None) == (self.documents is None):
            raise PydanticCustomError("one_of", "give exactly one of 'passages' or 'documents'")
        return self


class LabelRequest(_Strict):
    """Body of ``POST /v1/queue/<id>/label``: the passage's labels (an empty list: none applies)."""

    labels: list[str]


class SkipRequest(_Strict):
    """Body of ``POST /v1/queue/<id>/skip``: none, or an empty object."""


_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def _where(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return f"'{text}'" if len(loc) == 1 else text


def error_message(exc: ValidationError) -> str:
    """The first error of `exc` as one sentence naming the field."""
    error = exc.errors(include_url=False)[0]
    loc, kind = tuple(error["loc"]), error["type"]
    if kind == "extra_forbidden":
        parent, name = loc[:-1], loc[-1]
        return f"{_where(parent)}: unknown field {name!r}" if parent else f"unknown field {name!r}"
    if not loc:
        if kind in _MESSAGES:
            return f"the JSON body {_MESSAGES[kind]}"
        return error["msg"]
    return f"{_where(loc)} {_MESSAGES.get(kind, error['msg'])}"

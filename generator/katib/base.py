"""The one base class of every Katib wire model: frozen, strict about unknown fields,
snake_case in Python and camelCase on the wire."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, PrivateAttr
from pydantic.alias_generators import to_camel

from generator.files.origin import Origin

# A Kubernetes object as plain data: the only untyped value that travels between stages.
Manifest = dict[str, Any]


class KatibModel(BaseModel):
    """Base of the wire models. `origin` remembers where a spec wrote the value."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
    )

    _origin: Origin | None = PrivateAttr(default=None)

    @property
    def origin(self) -> Origin | None:
        return self._origin

    def located(self, origin: Origin | None) -> Self:
        """Attach the place the value was written (a no-op when `origin` is None)."""
        if origin is not None:
            self._origin = origin  # a private attribute: frozen fields stay untouched
        return self

    def to_wire(self) -> Manifest:
        """The object as Katib's API server would store it (camelCase, unset fields absent)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

"""The HTTP request bodies, declared once with pydantic: the service validates with these models
and ``/openapi.json`` is generated from them.

Validation errors become the service's own error codes (``ServiceError``): ``unknown_field``,
``missing_field``, ``wrong_type``, ``bad_speed``, ``unsupported_format`` and
``unsupported_value``, each message naming the field and what it got. The models are strict:
JSON gives a string where a string is due and a boolean where a boolean is due (no "yes" for
true, no 1 for "1"); a number field takes integers too.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Literal, Optional, Type, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import SPEED_MAX, SPEED_MIN, UNKNOWN_POLICIES
from .service import OPENAI_VOICES, ServiceError

Format = Literal["wav", "pcm"]
Unknown = Literal[UNKNOWN_POLICIES]  # type: ignore[valid-type]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Speed = Optional[float]
_SPEED = Field(None, ge=SPEED_MIN, le=SPEED_MAX, description="speaking rate, 1 = the voice's own")


Control = Optional[Union[float, str]]


class TtsRequest(_Body):
    """``POST /v1/tts``."""

    text: str = Field(description="the text to speak; SSML when it starts with <speak")
    voice: Optional[str] = Field(None, description="the served voice's name or an alias")
    format: Format = Field("wav", description="WAV, or raw 16-bit PCM")
    stream: bool = Field(False, description="send the audio as it is made (chunked)")
    speed: Speed = _SPEED
    unknown: Unknown = Field("spell", description="what to do with characters the voice cannot say")
    ssml: Optional[bool] = Field(None, description="force SSML on or off (default: detected)")
    marks: bool = Field(False, description="answer JSON with the audio and every character's times; "
                                           "with stream, NDJSON lines of audio chunks and their times")
    pitch: Control = Field(None, description="pitch shift: semitones as a number, or \"+2st\", "
                                             "\"-10%\", \"high\" (voices with prosody controls)")
    pitch_range: Control = Field(None, description="intonation range: a factor, or \"130%\", "
                                                   "\"0%\" (flat), \"x-high\"")
    energy: Control = Field(None, description="energy: a factor, or \"110%\"")
    emotion: Optional[str] = Field(None, description="a prosodic style of the voice (GET /v1/voices "
                                                     "lists them), e.g. cheerful, calm, 开心")


class OpenAISpeechRequest(_Body):
    """``POST /v1/audio/speech``: OpenAI's text-to-speech request (always streamed)."""

    model: Optional[str] = None
    input: str = Field(description="the text to speak")
    voice: Optional[str] = Field(None, description="the served voice's name or an OpenAI voice name",
                                 json_schema_extra={"examples": list(OPENAI_VOICES)})
    response_format: Format = "wav"
    speed: Speed = _SPEED
    instructions: Optional[str] = Field(None, description="a preset of the voice (cheerful, calm, "
                                        "开心 ...), by name or named once in free text; other "
                                        "instructions are ignored")
    stream_format: Optional[str] = Field(None, description="accepted and ignored")


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}}``, the shape OpenAI clients expect."""

    class Detail(BaseModel):
        code: str
        message: str

    error: Detail


M = TypeVar("M", bound=BaseModel)
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse(model: Type[M], body: Any) -> M:
    """Validate a decoded JSON body; ServiceError (422) names the field at fault."""
    if not isinstance(body, dict):
        raise ServiceError(422, "wrong_type", "the body must be a JSON object, got %s" % json_type(body))
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _error(model, body, exc.errors())


def _error(model: Type[BaseModel], body: dict, errors: List[Any]) -> ServiceError:
    keys = [k for k in body if _SURROGATE.search(k)]
    if keys or any(not e["loc"] for e in errors):  # a field name that is not Unicode text
        return ServiceError(422, "unknown_field", "a field name holds a lone surrogate (%s), which is "
                            "not a Unicode character; allowed: %s"
                            % (", ".join(ascii(k) for k in keys), ", ".join(sorted(model.model_fields))))
    extra = sorted(ascii(e["loc"][0])[1:-1] for e in errors if e["type"] == "extra_forbidden")
    if extra:
        return ServiceError(422, "unknown_field", "unknown field(s) %s; allowed: %s"
                            % (", ".join(extra), ", ".join(sorted(model.model_fields))))
    order = list(model.model_fields)
    e = min(errors, key=lambda e: order.index(e["loc"][0]) if e["loc"] and e["loc"][0] in order else len(order))
    field = str(e["loc"][0])
    value = body.get(field)
    info = model.model_fields[field]
    if e["type"] == "missing":
        return ServiceError(422, "missing_field", "%r is required: %s" % (field, info.description or field))
    if field in ("pitch", "pitch_range", "energy"):
        return ServiceError(422, "wrong_type", "%r must be a number or a string such as \"+2st\" or "
                            "\"130%%\", got %s" % (field, json_type(value)))
    if field == "speed":
        return ServiceError(422, "bad_speed", "'speed' must be a number from %s to %s, got %s"
                            % (SPEED_MIN, SPEED_MAX, _dumps(value)))
    if e["type"] == "literal_error":
        allowed = e.get("ctx", {}).get("expected", "")
        return ServiceError(422, "unsupported_" + ("format" if "format" in field else "value"),
                            "%r must be one of %s, got %s" % (field, allowed.replace("'", ""), _dumps(value)))
    want = "true or false" if e["type"].startswith("bool") else "a string"
    return ServiceError(422, "wrong_type", "%r must be %s, got %s" % (field, want, json_type(value)))


def _dumps(v: Any) -> str:
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 40 else s[:37] + "..."


def json_type(v: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(v), type(v).__name__)


def schemas(max_text_chars: int) -> Dict[str, Any]:
    """The components/schemas of the OpenAPI document, from the models (the text limits are the
    running service's)."""
    out: Dict[str, Any] = {}
    for model, text in ((TtsRequest, "text"), (OpenAISpeechRequest, "input"), (ErrorBody, None)):
        s = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(s.pop("$defs", {}))
        if text:
            s["properties"][text]["maxLength"] = max_text_chars
        out[model.__name__] = s
    return out

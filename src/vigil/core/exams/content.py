"""The exam file: its pydantic schema, its canonical hash, and the public view without keys.

The schema is documented in docs/exam-attempts.md. Unknown keys are refused, so that a
misspelt `answer` never ships a key to the client by accident.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vigil.core.errors import InvalidInput
from vigil.core.risk import RiskPolicy

SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
SafeId = Annotated[str, Field(pattern=SAFE_ID)]
MAX_QUESTIONS = 500
MAX_TEXT_ANSWER = 20_000


class QuestionType(StrEnum):
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    NUMBER = "number"


CHOICE_TYPES = {QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Option(Strict):
    id: SafeId
    text: str = Field(min_length=1, max_length=2000)


class Question(Strict):
    id: SafeId
    type: QuestionType
    prompt: str = Field(min_length=1, max_length=20_000)
    options: list[Option] = Field(default_factory=list, max_length=50)
    points: float = Field(default=1, ge=0, le=1000)
    # The answer key: an option id, a list of them, a number, or accepted texts.
    answer: str | float | list[str] | None = None

    @model_validator(mode="after")
    def _check_options(self) -> Question:
        ids = [option.id for option in self.options]
        if len(set(ids)) != len(ids):
            raise ValueError("option ids must be unique")
        if self.type in CHOICE_TYPES and len(ids) < 2:
            raise ValueError(f"a {self.type.value} question needs at least two options")
        if self.type not in CHOICE_TYPES and ids:
            raise ValueError(f"a {self.type.value} question has no options")
        if self.answer is not None:
            check_response(self, self.answer, what="answer")
        return self


class ExamFile(Strict):
    exam_id: SafeId = Field(alias="examId")
    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    duration_seconds: int | None = Field(default=None, alias="durationSeconds", gt=0)
    questions: list[Question] = Field(max_length=MAX_QUESTIONS)
    # Not content: stored on the exam apart from it (docs/risk.md), so that a new policy
    # rescores sessions without making a new version of the questions.
    risk_policy: RiskPolicy | None = Field(default=None, alias="riskPolicy")

    @model_validator(mode="after")
    def _check_question_ids(self) -> ExamFile:
        ids = [question.id for question in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        return self


def check_response(question: Question, response: object, *, what: str = "response") -> None:
    """Raise ValueError unless `response` has the shape the question type asks for."""
    kind = question.type
    option_ids = {option.id for option in question.options}
    if kind is QuestionType.SINGLE_CHOICE:
        if not isinstance(response, str) or response not in option_ids:
            raise ValueError(f"{what} must be one of the option ids {sorted(option_ids)}")
    elif kind is QuestionType.MULTIPLE_CHOICE:
        if not isinstance(response, list) or not all(
            isinstance(item, str) and item in option_ids for item in response
        ):
            raise ValueError(f"{what} must be a list of option ids {sorted(option_ids)}")
        if len(set(response)) != len(response):
            raise ValueError(f"{what} lists an option twice")
    elif kind is QuestionType.NUMBER:
        if isinstance(response, bool) or not isinstance(response, int | float):
            raise ValueError(f"{what} must be a number")
    else:
        texts = response if isinstance(response, list) and what == "answer" else [response]
        if not all(isinstance(text, str) and len(text) <= MAX_TEXT_ANSWER for text in texts):
            raise ValueError(f"{what} must be a text of at most {MAX_TEXT_ANSWER} characters")


def parse_exam_file(text: str | bytes, source: str) -> ExamFile:
    """The validated exam file, or InvalidInput naming the file and the field."""
    try:
        return ExamFile.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first.get("loc", ()))
        field = f"{source}:{location}" if location else source
        raise InvalidInput(f"{field}: {first.get('msg', 'invalid')}", field=field) from exc


def canonical(exam: ExamFile) -> dict[str, Any]:
    """The stored form: what the file says, spelt one way (aliases, no unset defaults),
    without the risk policy."""
    return exam.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"risk_policy"})


def sha256_of(content: dict[str, Any]) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def public_view(content: dict[str, Any]) -> dict[str, Any]:
    """The exam as a candidate may see it: every answer key removed."""
    questions = [
        {key: value for key, value in question.items() if key != "answer"}
        for question in content.get("questions", [])
    ]
    return {**content, "questions": questions}


def questions_of(content: dict[str, Any] | None) -> dict[str, Question]:
    if not content:
        return {}
    return {q["id"]: Question.model_validate(q) for q in content.get("questions", [])}

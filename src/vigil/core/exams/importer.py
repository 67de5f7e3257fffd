"""`vigil exams import DIR`: exam files in, one transaction, idempotent.

DIR/input/{examId}.json are the exam files; DIR/manifest.json says which are published
(`{"exams": {"<examId>": {"published": true}}}`; other keys are ignored). The same file
imported again changes nothing; a changed file makes a new version of the exam (attempts
already started keep the content they started on); a published flag that changed is
applied without a new version, and so is a `riskPolicy` that changed (rescoring the exam's
sessions). An exam created through ProctorBE has no file: the manifest may still publish
it, by its uuid. One invalid file fails the whole import.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core.errors import InvalidInput
from vigil.core.exams.content import canonical, parse_exam_file, sha256_of
from vigil.core.exams.models import Exam
from vigil.core.exams.risk_policy import apply_policy


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    published: bool = False


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    exams: dict[str, ManifestEntry] = {}


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    republished: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the manifest, no input file
    # riskPolicy set, changed or reset (null) by the file: sessions of these exams rescored
    risk_policy_changed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.republished or self.risk_policy_changed)


def read_manifest(directory: Path) -> Manifest:
    path = directory / "manifest.json"
    if not path.exists():
        return Manifest()
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first.get("loc", ()))
        raise InvalidInput(
            f"manifest.json:{location}: {first.get('msg', 'invalid')}", field="manifest.json"
        ) from exc


async def import_exams(db: AsyncSession, directory: Path) -> ImportReport:
    if not (directory / "input").is_dir():
        raise InvalidInput(f"{directory}/input is not a directory", field="input")
    manifest = read_manifest(directory)
    report = ImportReport()
    seen: set[str] = set()
    for path in sorted((directory / "input").glob("*.json")):
        source = f"input/{path.name}"
        try:
            text = path.read_bytes()
            json.loads(text)
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{source}: not readable JSON ({exc})", field=source) from exc
        exam_file = parse_exam_file(text, source)
        if exam_file.exam_id != path.stem:
            raise InvalidInput(
                f"{source}: examId {exam_file.exam_id!r} does not match the file name",
                field=f"{source}:examId",
            )
        seen.add(exam_file.exam_id)
        content = canonical(exam_file)
        digest = sha256_of(content)
        entry = manifest.exams.get(exam_file.exam_id)
        published = entry.published if entry else False
        exam = await db.scalar(select(Exam).where(Exam.external_ref == exam_file.exam_id))
        if exam is None:
            exam = Exam(
                external_ref=exam_file.exam_id,
                title=exam_file.title,
                content=content,
                content_sha256=digest,
                version=1,
                published=published,
                duration_seconds=exam_file.duration_seconds,
            )
            db.add(exam)
            report.created.append(exam_file.exam_id)
        elif exam.content_sha256 != digest:
            exam.title = exam_file.title
            exam.content = content
            exam.content_sha256 = digest
            exam.version += 1
            exam.published = published
            exam.duration_seconds = exam_file.duration_seconds
            report.updated.append(exam_file.exam_id)
        elif exam.published != published:
            exam.published = published
            report.republished.append(exam_file.exam_id)
        else:
            report.unchanged.append(exam_file.exam_id)
        if "risk_policy" in exam_file.model_fields_set:
            # Absent: the exam keeps the policy it has (set through the API, say);
            # `null`: back to the default policy.
            policy_before = exam.risk_policy
            await apply_policy(db, exam, exam_file.risk_policy)
            if exam.risk_policy != policy_before:
                report.risk_policy_changed.append(exam_file.exam_id)
    for ref in sorted(set(manifest.exams) - seen):
        exam = await _proctorbe_exam(db, ref)
        if exam is None:
            report.missing.append(ref)
        elif exam.published != manifest.exams[ref].published:
            exam.published = manifest.exams[ref].published
            report.republished.append(ref)
        else:
            report.unchanged.append(ref)
    await db.flush()
    return report


async def _proctorbe_exam(db: AsyncSession, ref: str) -> Exam | None:
    """An exam created through ProctorBE, which the manifest names by its uuid."""
    try:
        key = uuid.UUID(ref)
    except ValueError:
        return None
    return await db.scalar(select(Exam).where(Exam.uuid == key, Exam.external_ref.is_(None)))

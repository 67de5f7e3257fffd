"""ExamManager's request and response bodies, named and spelled as the contract has them.

Every response carries `type` (the response's name, which the client switches on) and
`status` (the HTTP status's .NET name: "OK", "BadRequest", ...); `message` when there is
one. Fields with no value are left out, not sent as null.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
)

from vigil.labs.driver import LabsError
from vigil.labs.ids import check_id


def _plain_image_id(value: str) -> str:
    """Refused when the task is created, not when a student's machine fails to start."""
    try:
        return check_id(value, "VM image id")
    except LabsError as error:
        raise ValueError(str(error)) from None


def _known_task_status(value: int) -> int:
    if value not in (0, 1, 2, 4):
        raise ValueError("a task status is 0, 1, 2 or 4")
    return value


MAX_ITEMS = 1000
MAX_INT = 2**31 - 1
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL

Login = Annotated[str, StringConstraints(min_length=1, max_length=254, pattern=NO_NUL)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=NO_NUL)]
Name = Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)]
Title = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]
LongText = Annotated[str, StringConstraints(max_length=100_000, pattern=NO_NUL)]
ImageId = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_plain_image_id)
]
# Integers, not Literal: a query parameter arrives as text, and "0" must still be role 0.
Role = Annotated[int, Field(ge=0, le=1, description="0 admin, 1 student")]
# In JSON bodies a number must be a number: `"role": true` or `"role": "0"` is refused, not
# read as 1 or 0 (a role, above all, is not guessed).
BodyRole = Annotated[Role, Strict()]
BodyInt = Annotated[int, Strict()]
TaskStatusCode = Annotated[
    int,
    Field(ge=0, le=4, description="0 not checked, 1 FAILED, 2 SUCCESSED, 4 CHECKING"),
    AfterValidator(_known_task_status),
]
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_INT)]


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class IdRef(Request):
    id: uuid.UUID


# --- requests ---------------------------------------------------------------------------


class LoginEditModel(Request):
    login: Login
    password: Password


class AddPersonalTasksRequest(Request):
    tasks: list[IdRef] = Field(default_factory=list, max_length=MAX_ITEMS)


class RemovePersonalTasksRequest(Request):
    # The contract spells it `pesronalTasks`; the original server read `personalTasks`.
    pesronalTasks: list[IdRef] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        validation_alias=AliasChoices("pesronalTasks", "personalTasks"),
    )


class GetTasksRequest(Request):
    title: Title | None = None
    studentIds: list[uuid.UUID] | None = Field(default=None, max_length=MAX_ITEMS)


class VirtualMachineIn(Request):
    id: ImageId
    title: Title | None = None
    order: Annotated[BodyInt, Field(ge=-MAX_INT, le=MAX_INT)] | None = None


class CreateTaskRequest(Request):
    title: Title
    description: LongText
    virtualMachines: list[VirtualMachineIn] = Field(default_factory=list, max_length=100)
    checkerCommand: LongText | None = Field(
        default=None,
        description="Vigil extension, admins only: a command that checks a student's work "
        "(exit 0 passes, stdout is the message). Without it the hypervisor driver checks.",
    )


class DeleteTaskRequest(Request):
    taskId: uuid.UUID


class ModifyTaskRequest(Request):
    taskId: uuid.UUID
    title: Title | None = None
    description: LongText | None = None


class CreateGroupRequest(Request):
    name: Title


class AddStudentsRequest(Request):
    groupId: uuid.UUID
    students: list[IdRef] = Field(default_factory=list, max_length=MAX_ITEMS)


class RemoveStudentsRequest(Request):
    students: list[IdRef] = Field(default_factory=list, max_length=MAX_ITEMS)


class GetUsersRequest(Request):
    name: Title | None = None
    firstName: Name | None = None
    lastName: Name | None = None
    excludeYourself: bool = False
    withoutGroup: bool = False
    groupIds: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ITEMS)
    excludeGroupIds: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ITEMS)
    taskIds: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ITEMS)
    excludeTaskIds: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ITEMS)
    taskStatus: TaskStatusCode | None = None
    role: Role | None = None


class NewUserIn(Request):
    login: Login
    password: Password
    firstName: Name
    lastName: Name
    role: BodyRole
    groupId: uuid.UUID | None = None


class CreateUsersRequest(Request):
    users: list[NewUserIn] = Field(default_factory=list, max_length=MAX_ITEMS)


class UserRemoval(Request):
    id: uuid.UUID
    onlyLogin: StrictBool


class DeleteUsersRequest(Request):
    users: list[UserRemoval] = Field(default_factory=list, max_length=MAX_ITEMS)


class GetGroupsRequest(Request):
    name: Title | None = None
    minStudentsCount: Count | None = None
    maxStudentsCount: Count | None = None
    count: Count | None = None


class ModifyUserRequest(Request):
    id: uuid.UUID | None = None
    login: Login | None = None
    password: Password | None = None
    firstName: Name | None = None
    lastName: Name | None = None
    role: BodyRole | None = None


# --- responses --------------------------------------------------------------------------


class Envelope(BaseModel):
    status: str = "OK"
    message: str | None = None


class Response(Envelope):
    type: Literal["Response"] = "Response"


class JwtResponse(Envelope):
    type: Literal["JwtResponse"] = "JwtResponse"
    token: str
    id: uuid.UUID


class UserTaskView(BaseModel):
    id: uuid.UUID
    title: str


class UserDataResponse(Envelope):
    type: Literal["UserDataResponse"] = "UserDataResponse"
    id: uuid.UUID
    firstName: str | None = None
    lastName: str | None = None
    groupId: uuid.UUID | None = None
    role: Role
    tasks: list[UserTaskView]


class UserTaskStatusView(BaseModel):
    title: str
    status: int


class UserView(BaseModel):
    id: uuid.UUID
    firstName: str | None = None
    lastName: str | None = None
    groupName: str | None = None
    role: Role = Field(description="Vigil extension: 0 admin, 1 student")
    tasks: list[UserTaskStatusView]


class UsersDataResponse(Envelope):
    type: Literal["UsersDataResponse"] = "UsersDataResponse"
    users: list[UserView]


class TaskView(BaseModel):
    id: uuid.UUID
    number: int
    title: str
    description: str


class TasksDataResponse(Envelope):
    type: Literal["TasksDataResponse"] = "TasksDataResponse"
    tasks: list[TaskView]


class ImageView(BaseModel):
    id: str
    title: str | None = None
    order: int


class StudentView(BaseModel):
    id: uuid.UUID
    fullName: str


class TaskDataResponse(Envelope):
    type: Literal["TaskDataResponse"] = "TaskDataResponse"
    id: uuid.UUID
    number: int
    title: str
    description: str
    virtualMachines: list[ImageView]
    students: list[StudentView]


class TaskStatusResponse(Envelope):
    type: Literal["TaskStatusResponse"] = "TaskStatusResponse"
    id: str
    vMachineId: str | None = None
    status: int  # type: ignore[assignment]  # the VM's status code, as the contract says


class ImageRef(BaseModel):
    id: str


class InstanceView(BaseModel):
    status: int


class PersonalVmView(BaseModel):
    image: ImageRef
    instance: InstanceView


class PersonalTaskDataResponse(Envelope):
    type: Literal["PersonalTaskDataResponse"] = "PersonalTaskDataResponse"
    id: uuid.UUID = Field(description="Vigil extension: the personal task's id")
    taskId: uuid.UUID = Field(description="Vigil extension: the task's id")
    title: str
    number: int
    description: str
    status: int  # type: ignore[assignment]  # the task's status code, as the contract says
    message: str | None = None
    virtualMachines: list[PersonalVmView]


class PersonalTaskView(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    number: int
    status: int


class StudentTasksView(BaseModel):
    studentId: uuid.UUID
    tasks: list[PersonalTaskView]


class PersonalTasksDataResponse(Envelope):
    type: Literal["PersonalTasksDataResponse"] = "PersonalTasksDataResponse"
    personalTasks: list[StudentTasksView]


class GroupDataResponse(Envelope):
    type: Literal["GroupDataResponse"] = "GroupDataResponse"
    id: uuid.UUID
    name: str
    studentsCount: int


class GroupView(BaseModel):
    id: uuid.UUID
    name: str
    studentsCount: int


class GroupsDataResponse(Envelope):
    type: Literal["GroupsDataResponse"] = "GroupsDataResponse"
    groups: list[GroupView]


class ErrorsResponse(Envelope):
    type: Literal["ErrorsResponse"] = "ErrorsResponse"
    status: str = "BadRequest"
    errors: dict[str, str]


class BadResponse(Envelope):
    type: Literal["BadResponse"] = "BadResponse"
    exceptionType: str
    message: str
    stackTrace: str = Field(default="", description="Always empty: Vigil shows no internals")


_DESCRIPTIONS: dict[int, tuple[type[BaseModel], str]] = {
    400: (ErrorsResponse, "ErrorsResponse: a field is missing or wrong (named in errors)"),
    401: (BadResponse, "BadResponse: no valid bearer token (or wrong login and password)"),
    403: (BadResponse, "BadResponse: the caller may not do this"),
    404: (BadResponse, "BadResponse: the user, group, task or image does not exist"),
    409: (ErrorsResponse, "ErrorsResponse: taken already, or not possible in this state"),
    413: (BadResponse, "BadResponse: the body is too large"),
    503: (BadResponse, "BadResponse: no hypervisor is configured, or it failed"),
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {
        code: {"model": _DESCRIPTIONS[code][0], "description": _DESCRIPTIONS[code][1]}
        for code in (*codes, 500)
        if code in _DESCRIPTIONS
    }
    documented[500] = {"model": BadResponse, "description": "BadResponse: an unexpected failure"}
    return documented

"""ExamManager: sign-in, users and groups, in the order the contract lists them
(tasks, personal tasks and virtual machines are in labs.py)."""

from __future__ import annotations

import uuid
from typing import Annotated, TypeVar

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request
from pydantic import BaseModel, ValidationError

from vigil.core import policy
from vigil.core.errors import InvalidFields, PayloadTooLarge
from vigil.core.identity import directory
from vigil.core.identity import service as identity
from vigil.core.identity.models import Role, User
from vigil.core.tasks import service as tasks
from vigil.core.tasks.jobs import LabJobs
from vigil.surfaces.exammanager.errors import ExamManagerRoute, validation_message
from vigil.surfaces.exammanager.schemas import (
    AddStudentsRequest,
    CreateGroupRequest,
    CreateUsersRequest,
    DeleteUsersRequest,
    GetGroupsRequest,
    GetUsersRequest,
    GroupDataResponse,
    GroupsDataResponse,
    GroupView,
    JwtResponse,
    LoginEditModel,
    ModifyUserRequest,
    RemoveStudentsRequest,
    Response,
    UserDataResponse,
    UsersDataResponse,
    UserTaskStatusView,
    UserTaskView,
    UserView,
    errors,
)
from vigil.web.deps import CurrentUser, DbSession, SettingsDep

router = APIRouter(route_class=ExamManagerRoute, tags=["ExamManager"])
PREFIXES = ("/login", "/user", "/users", "/task", "/tasks", "/group", "/groups")
GuidPath = Annotated[uuid.UUID, Path(description="a GUID")]


async def get_lab_jobs(request: Request) -> LabJobs:
    jobs: LabJobs = request.app.state.lab_jobs
    return jobs


Labs = Annotated[LabJobs, Depends(get_lab_jobs)]


def stop_detached(db: DbSession, labs: LabJobs, background: BackgroundTasks) -> None:
    """Stop, once the commit is done, the machines this request took from their students."""
    for vm_row_id in tasks.detached_vms(db):
        background.add_task(labs.stop_vm, vm_row_id)


def role_code(user: User) -> int:
    """ExamManager's role: 0 admin (Vigil's admins and teachers), 1 student."""
    return 0 if user.role in directory.MANAGERS else 1


def roles_for(code: int) -> tuple[Role, ...]:
    return directory.MANAGERS if code == 0 else (Role.STUDENT,)


async def users_data(db: DbSession, users: list[User]) -> UsersDataResponse:
    held = await tasks.tasks_of_users(db, [u.id for u in users])
    views = []
    for user in users:
        group = directory.group_of(user)
        views.append(
            UserView(
                id=user.uuid,
                firstName=user.first_name,
                lastName=user.last_name,
                groupName=group.name if group else None,
                role=role_code(user),
                tasks=[
                    UserTaskStatusView(title=p.task.title, status=p.status)
                    for p in held.get(user.id, [])
                ],
            )
        )
    return UsersDataResponse(users=views)


async def user_data(db: DbSession, user: User) -> UserDataResponse:
    group = directory.group_of(user)
    return UserDataResponse(
        id=user.uuid,
        firstName=user.first_name,
        lastName=user.last_name,
        groupId=group.uuid if group else None,
        role=role_code(user),
        tasks=[
            UserTaskView(id=p.task.uuid, title=p.task.title) for p in await tasks.tasks_of(db, user)
        ],
    )


# --- bodies -----------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def optional_json_body(model: type[BaseModel]) -> dict[str, object]:
    """`openapi_extra` for a JSON body `_optional_body` reads: it may be left out."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": schema}}}}


async def _optional_body(request: Request, model: type[M], limit: int) -> M | None:
    """A JSON body if one was sent (GET included); None for an empty body."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes")
    if not raw.strip():
        return None
    try:
        return model.model_validate_json(bytes(raw))
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            field, message = validation_message(error)
            problems.setdefault(field, message)
        raise InvalidFields(problems) from exc


# --- sign-in ----------------------------------------------------------------------------


@router.post("/login", response_model=JwtResponse, responses=errors(400, 401))
async def login(body: LoginEditModel, db: DbSession, settings: SettingsDep) -> JwtResponse:
    """A bearer token, valid on every Vigil surface (the same as ProctorBE's)."""
    user = await identity.authenticate(db, body.login, body.password)
    issued = identity.issue_user_token(settings.signing_key, user, settings.token_ttl_seconds)
    return JwtResponse(token=issued.token, id=user.uuid)


# --- users ------------------------------------------------------------------------------


@router.get(
    "/user/{id}",
    response_model=UserDataResponse,
    responses=errors(400, 401, 403, 404),
)
async def get_user(id: GuidPath, db: DbSession, caller: CurrentUser) -> UserDataResponse:
    user = await directory.find_user(db, id)
    policy.require_read_user(caller, user.id)
    return await user_data(db, user)


@router.post(
    "/user/modify",
    response_model=UserDataResponse,
    responses=errors(400, 401, 403, 404, 409),
)
async def modify_user(
    body: ModifyUserRequest, db: DbSession, caller: CurrentUser
) -> UserDataResponse:
    """Without `id`: the caller's own account."""
    # the caller was read outside this transaction: load the account to change in it
    user = await directory.find_user(db, body.id or caller.uuid)
    given = body.model_dump(exclude_none=True, exclude={"id"})
    policy.require_modify_user(caller, user.id, set(given))
    changes = directory.UserChanges(
        login=body.login,
        password=body.password,
        first_name=body.firstName,
        last_name=body.lastName,
        manager=None if body.role is None else body.role == 0,
    )
    user = await directory.modify_user(db, caller, user, changes)
    return await user_data(db, await directory.find_user(db, user.uuid))


_USERS_DOC = (
    "GetUsersRequest as a JSON body (the contract's way), or as query parameters "
    "(lists repeated: `groupIds=a&groupIds=b`). POST is accepted too: the original client "
    "posts it."
)


@router.get(
    "/users",
    response_model=UsersDataResponse,
    responses=errors(400, 401, 403, 413),
    description=_USERS_DOC,
)
async def get_users(
    request: Request,
    query: Annotated[GetUsersRequest, Query()],
    db: DbSession,
    settings: SettingsDep,
    caller: CurrentUser,
) -> UsersDataResponse:
    body = await _optional_body(request, GetUsersRequest, settings.max_json_bytes)
    return await _list_users(db, caller, body or query)


@router.post(
    "/users",
    response_model=UsersDataResponse,
    responses=errors(400, 401, 403, 413),
    description=_USERS_DOC,
    openapi_extra=optional_json_body(GetUsersRequest),
)
async def post_users(
    request: Request, db: DbSession, settings: SettingsDep, caller: CurrentUser
) -> UsersDataResponse:
    body = await _optional_body(request, GetUsersRequest, settings.max_json_bytes)
    return await _list_users(db, caller, body or GetUsersRequest())


async def _list_users(db: DbSession, caller: User, wanted: GetUsersRequest) -> UsersDataResponse:
    policy.require(caller, policy.Action.READ_USERS)
    found = await directory.list_users(
        db,
        directory.UserFilter(
            name=wanted.name,
            first_name=wanted.firstName,
            last_name=wanted.lastName,
            exclude_user_id=caller.id if wanted.excludeYourself else None,
            without_group=wanted.withoutGroup,
            group_ids=wanted.groupIds,
            exclude_group_ids=wanted.excludeGroupIds,
            task_ids=wanted.taskIds,
            exclude_task_ids=wanted.excludeTaskIds,
            task_status=wanted.taskStatus,
            roles=roles_for(wanted.role) if wanted.role is not None else (),
        ),
    )
    return await users_data(db, found)


@router.post(
    "/users/create",
    response_model=UsersDataResponse,
    responses=errors(400, 401, 403, 409),
)
async def create_users(
    body: CreateUsersRequest, db: DbSession, caller: CurrentUser
) -> UsersDataResponse:
    """All or nothing: every wrong or taken login is named in ErrorsResponse."""
    policy.require(caller, policy.Action.MANAGE_USERS)
    batch = [
        directory.NewMember(
            login=u.login,
            password=u.password,
            first_name=u.firstName,
            last_name=u.lastName,
            role=Role.ADMIN if u.role == 0 else Role.STUDENT,
            group_id=u.groupId,
        )
        for u in body.users
    ]
    created = await directory.create_users(db, batch)
    return await users_data(db, await directory.find_users(db, [u.uuid for u in created], "users"))


@router.post("/users/delete", response_model=Response, responses=errors(400, 401, 403, 404, 409))
async def delete_users(
    body: DeleteUsersRequest,
    db: DbSession,
    caller: CurrentUser,
    labs: Labs,
    background: BackgroundTasks,
) -> Response:
    """`onlyLogin` true: sign-in refused, data kept. False: personal data erased too, tasks
    taken and their machines stopped."""
    policy.require(caller, policy.Action.MANAGE_USERS)
    await directory.delete_users(db, caller, [(u.id, u.onlyLogin) for u in body.users])
    stop_detached(db, labs, background)
    return Response(message=f"{len(body.users)} user(s) deleted")


# --- groups -----------------------------------------------------------------------------


@router.get("/group/{id}", response_model=GroupDataResponse, responses=errors(400, 401, 403, 404))
async def get_group(id: GuidPath, db: DbSession, caller: CurrentUser) -> GroupDataResponse:
    policy.require(caller, policy.Action.READ_USERS)
    group = await directory.find_group(db, id)
    count = await directory.student_count(db, group)
    return GroupDataResponse(id=group.uuid, name=group.name, studentsCount=count)


@router.get(
    "/group/{id}/students",
    response_model=UsersDataResponse,
    responses=errors(400, 401, 403, 404),
)
async def group_students(id: GuidPath, db: DbSession, caller: CurrentUser) -> UsersDataResponse:
    policy.require(caller, policy.Action.READ_USERS)
    group = await directory.find_group(db, id)
    return await users_data(db, await directory.group_students(db, group))


@router.get("/group/{id}/delete", response_model=Response, responses=errors(400, 401, 403, 404))
async def delete_group(id: GuidPath, db: DbSession, caller: CurrentUser) -> Response:
    """The group goes; its students stay, without a group."""
    policy.require(caller, policy.Action.MANAGE_GROUPS)
    group = await directory.find_group(db, id)
    await directory.delete_group(db, group)
    return Response(message=f"group {id} deleted")


@router.post(
    "/group/create", response_model=GroupDataResponse, responses=errors(400, 401, 403, 409)
)
async def create_group(
    body: CreateGroupRequest, db: DbSession, caller: CurrentUser
) -> GroupDataResponse:
    policy.require(caller, policy.Action.MANAGE_GROUPS)
    group = await directory.create_group(db, body.name)
    return GroupDataResponse(id=group.uuid, name=group.name, studentsCount=0)


@router.post(
    "/group/students/add",
    response_model=UsersDataResponse,
    responses=errors(400, 401, 403, 404),
)
async def add_group_students(
    body: AddStudentsRequest, db: DbSession, caller: CurrentUser
) -> UsersDataResponse:
    """Moves the students into the group (a student has one group); the group's students."""
    policy.require(caller, policy.Action.MANAGE_GROUPS)
    group = await directory.find_group(db, body.groupId, field="groupId")
    await directory.add_students(db, group, [s.id for s in body.students])
    return await users_data(db, await directory.group_students(db, group))


@router.post(
    "/group/students/remove",
    response_model=UsersDataResponse,
    responses=errors(400, 401, 403, 404),
)
async def remove_group_students(
    body: RemoveStudentsRequest, db: DbSession, caller: CurrentUser
) -> UsersDataResponse:
    """Takes the students out of their group; the students, now without one."""
    policy.require(caller, policy.Action.MANAGE_GROUPS)
    removed = await directory.remove_students(db, [s.id for s in body.students])
    return await users_data(
        db, await directory.find_users(db, [u.uuid for u in removed], "students")
    )


@router.post(
    "/groups",
    response_model=GroupsDataResponse,
    responses=errors(400, 401, 403, 413),
    openapi_extra=optional_json_body(GetGroupsRequest),
)
async def get_groups(
    request: Request, db: DbSession, settings: SettingsDep, caller: CurrentUser
) -> GroupsDataResponse:
    """Groups by name part and student count; an empty body lists every group."""
    policy.require(caller, policy.Action.READ_USERS)
    wanted = await _optional_body(request, GetGroupsRequest, settings.max_json_bytes)
    wanted = wanted or GetGroupsRequest()
    rows = await directory.list_groups(
        db,
        directory.GroupFilter(
            name=wanted.name,
            min_students=wanted.minStudentsCount,
            max_students=wanted.maxStudentsCount,
            count=wanted.count,
        ),
    )
    return GroupsDataResponse(
        groups=[GroupView(id=g.uuid, name=g.name, studentsCount=n) for g, n in rows]
    )

"""ExamManager: tasks, personal tasks and the students' virtual machines, in the order
the contract lists them. VM starts, stops and checks run as jobs after the commit
(core/tasks/jobs.py); these endpoints record what is wanted and answer at once."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Request
from fastapi.responses import Response as RawResponse
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core import policy
from vigil.core.identity import directory
from vigil.core.identity.models import User
from vigil.core.tasks import service as tasks
from vigil.core.tasks import vms
from vigil.core.tasks.jobs import LabJobs
from vigil.core.tasks.models import PersonalTask, Task
from vigil.core.tasks.statuses import VmStatus
from vigil.labs.driver import NO_HYPERVISOR_MESSAGE
from vigil.surfaces.exammanager.errors import ExamManagerRoute
from vigil.surfaces.exammanager.router import (
    Labs,
    _optional_body,
    optional_json_body,
    stop_detached,
)
from vigil.surfaces.exammanager.schemas import (
    AddPersonalTasksRequest,
    CreateTaskRequest,
    DeleteTaskRequest,
    GetTasksRequest,
    ImageRef,
    ImageView,
    InstanceView,
    ModifyTaskRequest,
    PersonalTaskDataResponse,
    PersonalTasksDataResponse,
    PersonalTaskView,
    PersonalVmView,
    RemovePersonalTasksRequest,
    Response,
    StudentTasksView,
    StudentView,
    TaskDataResponse,
    TasksDataResponse,
    TaskStatusResponse,
    TaskView,
    errors,
)
from vigil.web.deps import CurrentUser, DbSession, SettingsDep

router = APIRouter(route_class=ExamManagerRoute, tags=["ExamManager"])
GuidPath = Annotated[uuid.UUID, Path(description="a GUID")]
ImagePath = Annotated[
    str, Path(min_length=1, max_length=200, description="the VM image id, as the task lists it")
]
VNC_FILE = "connection.vnc"


def require_hypervisor(labs: LabJobs) -> None:
    """After the task and its holder are checked: a wrong id is the more useful answer."""
    if not labs.hypervisor:
        raise vms.LabUnavailable(NO_HYPERVISOR_MESSAGE)


async def own_machine_lab(
    db: AsyncSession, caller: User, task_id: uuid.UUID, image_id: str, labs: LabJobs
) -> PersonalTask:
    """The caller's personal task for a VM call on one of its images: task and holder
    first, the hypervisor last (require_hypervisor)."""
    personal = await vms.own_lab(db, caller, task_id)
    vms.image_of(personal.task, image_id)
    require_hypervisor(labs)
    return personal


def full_name(user: User) -> str:
    return " ".join(part for part in (user.last_name, user.first_name) if part) or user.login


async def task_data(db: DbSession, task: Task, caller: User) -> TaskDataResponse:
    holders = await tasks.holders(db, task)
    policy.require_read_task(caller, {u.id for u in holders})
    if not policy.allows(caller, policy.Action.READ_USERS):
        holders = [u for u in holders if u.id == caller.id]  # a student sees only themself
    return TaskDataResponse(
        id=task.uuid,
        number=task.number,
        title=task.title,
        description=task.description,
        virtualMachines=[
            ImageView(id=image.image_id, title=image.title, order=image.order)
            for image in task.images
        ],
        students=[StudentView(id=u.uuid, fullName=full_name(u)) for u in holders],
    )


def personal_view(personal: PersonalTask) -> PersonalTaskView:
    task = personal.task
    return PersonalTaskView(
        id=personal.uuid,
        title=task.title,
        description=task.description,
        number=task.number,
        status=personal.status,
    )


async def personal_tasks_data(db: DbSession, user: User) -> PersonalTasksDataResponse:
    held = [personal_view(p) for p in await tasks.tasks_of(db, user)]
    return PersonalTasksDataResponse(
        personalTasks=[StudentTasksView(studentId=user.uuid, tasks=held)]
    )


# --- tasks ------------------------------------------------------------------------------


@router.post(
    "/tasks",
    response_model=TasksDataResponse,
    responses=errors(400, 401, 403, 404, 413),
    openapi_extra=optional_json_body(GetTasksRequest),
)
async def get_tasks(
    request: Request, db: DbSession, settings: SettingsDep, caller: CurrentUser
) -> TasksDataResponse:
    """Tasks by title part, and held by any of `studentIds`; a student sees only theirs."""
    wanted = await _optional_body(request, GetTasksRequest, settings.max_json_bytes)
    wanted = wanted or GetTasksRequest()
    student_ids = None
    if wanted.studentIds:  # [] filters nothing, as groupIds and taskIds of /users do
        students = await directory.find_users(db, wanted.studentIds, "studentIds", item="")
        student_ids = [s.id for s in students]
    if not policy.allows(caller, policy.Action.MANAGE_TASKS):
        for student_id in student_ids or ():
            policy.require_read_user(caller, student_id)
        student_ids = [caller.id]
    found = await tasks.list_tasks(db, wanted.title, student_ids)
    return TasksDataResponse(
        tasks=[
            TaskView(id=t.uuid, number=t.number, title=t.title, description=t.description)
            for t in found
        ]
    )


@router.get(
    "/task/{id}",
    response_model=TaskDataResponse,
    responses=errors(400, 401, 403, 404),
)
async def get_task(id: GuidPath, db: DbSession, caller: CurrentUser) -> TaskDataResponse:
    return await task_data(db, await tasks.find_task(db, id), caller)


@router.post(
    "/task/create",
    response_model=TaskDataResponse,
    responses=errors(400, 401, 403, 409),
)
async def create_task(
    body: CreateTaskRequest, db: DbSession, caller: CurrentUser
) -> TaskDataResponse:
    policy.require(caller, policy.Action.MANAGE_TASKS)
    if body.checkerCommand:
        policy.require(caller, policy.Action.SET_TASK_CHECKER)
    task = await tasks.create_task(
        db,
        body.title,
        body.description,
        [tasks.ImageSpec(vm.id, vm.title, vm.order) for vm in body.virtualMachines],
        body.checkerCommand,
    )
    return await task_data(db, await tasks.find_task(db, task.uuid), caller)


@router.post("/task/delete", response_model=Response, responses=errors(400, 401, 403, 404))
async def delete_task(
    body: DeleteTaskRequest,
    db: DbSession,
    caller: CurrentUser,
    labs: Labs,
    background: BackgroundTasks,
) -> Response:
    """Every student's machines of the task are stopped."""
    policy.require(caller, policy.Action.MANAGE_TASKS)
    await tasks.delete_task(db, await tasks.find_task(db, body.taskId, field="taskId"))
    stop_detached(db, labs, background)
    return Response(message=f"task {body.taskId} deleted")


@router.post(
    "/task/modify",
    response_model=TaskDataResponse,
    responses=errors(400, 401, 403, 404),
)
async def modify_task(
    body: ModifyTaskRequest, db: DbSession, caller: CurrentUser
) -> TaskDataResponse:
    policy.require(caller, policy.Action.MANAGE_TASKS)
    task = await tasks.find_task(db, body.taskId, field="taskId")
    await tasks.modify_task(db, task, body.title, body.description)
    return await task_data(db, task, caller)


# --- personal tasks ---------------------------------------------------------------------


@router.get(
    "/user/{id}/task/{taskId}",
    response_model=PersonalTaskDataResponse,
    responses=errors(400, 401, 403, 404),
)
async def get_personal_task(
    id: GuidPath, taskId: GuidPath, db: DbSession, caller: CurrentUser
) -> PersonalTaskDataResponse:
    """`taskId`: the task's id or the personal task's own id."""
    user = await directory.find_user(db, id)
    policy.require_read_user(caller, user.id)
    personal = await tasks.find_personal_task(db, user, taskId)
    machines = {
        vm.image_id: vm for vm in (await vms.vms_of(db, [personal.id])).get(personal.id, [])
    }
    task = personal.task
    return PersonalTaskDataResponse(
        id=personal.uuid,
        taskId=task.uuid,
        title=task.title,
        number=task.number,
        description=task.description,
        status=personal.status,
        message=personal.message,
        virtualMachines=[
            PersonalVmView(
                image=ImageRef(id=image.image_id),
                instance=InstanceView(
                    status=machines[image.image_id].status
                    if image.image_id in machines
                    else VmStatus.KILLED
                ),
            )
            for image in task.images
        ],
    )


@router.get(
    "/user/{id}/tasks",
    response_model=PersonalTasksDataResponse,
    responses=errors(400, 401, 403, 404),
)
async def get_personal_tasks(
    id: GuidPath, db: DbSession, caller: CurrentUser
) -> PersonalTasksDataResponse:
    user = await directory.find_user(db, id)
    policy.require_read_user(caller, user.id)
    return await personal_tasks_data(db, user)


@router.post(
    "/user/{id}/tasks/add",
    response_model=PersonalTasksDataResponse,
    responses=errors(400, 401, 403, 404, 409),
)
async def add_personal_tasks(
    id: GuidPath, body: AddPersonalTasksRequest, db: DbSession, caller: CurrentUser
) -> PersonalTasksDataResponse:
    """Gives the student these tasks (one held already stays as it is); all their tasks."""
    policy.require(caller, policy.Action.MANAGE_TASKS)
    user = await directory.find_user(db, id)
    await tasks.assign_tasks(db, user, [t.id for t in body.tasks])
    return await personal_tasks_data(db, user)


@router.post(
    "/user/{id}/tasks/remove", response_model=Response, responses=errors(400, 401, 403, 404)
)
async def remove_personal_tasks(
    id: GuidPath,
    body: RemovePersonalTasksRequest,
    db: DbSession,
    caller: CurrentUser,
    labs: Labs,
    background: BackgroundTasks,
) -> Response:
    """Takes the tasks from the student; their virtual machines are stopped."""
    policy.require(caller, policy.Action.MANAGE_TASKS)
    user = await directory.find_user(db, id)
    await tasks.take_tasks(db, user, [p.id for p in body.pesronalTasks])
    stop_detached(db, labs, background)
    return Response(message=f"{len(body.pesronalTasks)} task(s) removed")


# --- virtual machines -------------------------------------------------------------------


@router.get(
    "/task/{taskId}/start/{id}",
    response_model=Response,
    responses=errors(400, 401, 403, 404, 409, 503),
)
async def start_vm(
    taskId: GuidPath,
    id: ImagePath,
    db: DbSession,
    caller: CurrentUser,
    labs: Labs,
    background: BackgroundTasks,
) -> Response:
    """Starts the caller's machine of this image (LOADING until the hypervisor says RUNNING)."""
    personal = await own_machine_lab(db, caller, taskId, id, labs)
    vm, must_start = await vms.request_start(db, personal, id, labs.driver.name)
    if not must_start:
        return Response(message=f"the virtual machine is {VmStatus(vm.status).name}")
    background.add_task(labs.start_vm, vm.id)
    return Response(message="the virtual machine is starting")


@router.get(
    "/task/{taskId}/status/{id}",
    response_model=TaskStatusResponse,
    responses=errors(400, 401, 403, 404, 503),
)
async def vm_status(
    taskId: GuidPath, id: ImagePath, db: DbSession, caller: CurrentUser, labs: Labs
) -> TaskStatusResponse:
    """1 RUNNING, 2 KILLED (also: never started), 4 LOADING; `message` says why it stopped."""
    personal = await own_machine_lab(db, caller, taskId, id, labs)
    vm = await vms.vm_of(db, personal, id)
    if vm is None:
        return TaskStatusResponse(id=id, status=VmStatus.KILLED)
    return TaskStatusResponse(
        id=id, vMachineId=vm.driver_vm_id, status=vm.status, message=vm.message
    )


@router.get(
    "/task/{taskId}/connect/{id}",
    response_class=RawResponse,
    responses={
        200: {
            "description": "connection.vnc: a VNC viewer's connection file",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **errors(400, 401, 403, 404, 409, 503),
    },
)
async def connect_vm(
    taskId: GuidPath,
    id: ImagePath,
    db: DbSession,
    caller: CurrentUser,
    settings: SettingsDep,
    labs: Labs,
) -> RawResponse:
    """The caller's own running machine only; the file holds its console password."""
    personal = await own_machine_lab(db, caller, taskId, id, labs)
    found = vms.connection(await vms.vm_of(db, personal, id), settings.signing_key)
    lines = ["[Connection]", "ConnMethod=tcp", f"Host={found.address}:{found.port}"]
    if found.password is not None:
        lines.append(f"Password={found.password}")
    return RawResponse(
        ("\r\n".join(lines) + "\r\n").encode(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{VNC_FILE}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/task/{taskId}/check", response_model=Response, responses=errors(400, 401, 403, 404, 409, 503)
)
async def check_task(
    taskId: GuidPath,
    db: DbSession,
    caller: CurrentUser,
    labs: Labs,
    background: BackgroundTasks,
) -> Response:
    """Marks the task CHECKING (4) and runs its checker; the result lands in its status
    (1 FAILED, 2 SUCCESSED) and message."""
    personal = await vms.own_lab(db, caller, taskId)
    await vms.request_check(db, personal, labs.hypervisor)
    background.add_task(labs.check_task, personal.id)
    return Response(message="the check has started")


@router.get(
    "/task/{taskId}/stop/{id}", response_model=Response, responses=errors(400, 401, 403, 404, 503)
)
async def stop_vm(
    taskId: GuidPath,
    id: ImagePath,
    db: DbSession,
    caller: CurrentUser,
    labs: Labs,
    background: BackgroundTasks,
) -> Response:
    personal = await own_machine_lab(db, caller, taskId, id, labs)
    vm = await vms.request_stop(db, personal, id)
    if vm is None:
        return Response(message="the virtual machine is not running")
    background.add_task(labs.stop_vm, vm.id)
    return Response(message="the virtual machine is stopping")

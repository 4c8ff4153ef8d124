"""The typification tree of a campaign (seed 004): Group > Result > Motive > Submotive, forms of
dynamic fields (seed 002), the retry rule of each result, and the no-contact mapping of call
outcomes used by the predictive strategy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.enums import CallOutcome, DialMode, FieldType, GroupKind
from store.errors import InvalidSetting, NotFound
from store.models import (
    Campaign,
    FormField,
    NoContactMapping,
    TypificationForm,
    TypificationGroup,
    TypificationMotive,
    TypificationResult,
    TypificationSubmotive,
)


def _name(entity: str, name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidSetting(entity, "name", "is required")
    return name


async def _get(session: AsyncSession, model: type[Any], key: int, entity: str) -> Any:
    row = await session.get(model, key)
    if row is None:
        raise NotFound(entity, key)
    return row


async def add_group(
    session: AsyncSession, campaign_id: int, name: str, kind: GroupKind | str, *, position: int = 0
) -> TypificationGroup:
    await _get(session, Campaign, campaign_id, "campaign")
    try:
        kind = GroupKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in GroupKind)
        raise InvalidSetting(
            "typification group", "kind", f"{kind!r} is not one of {allowed}"
        ) from None
    group = TypificationGroup(
        campaign_id=campaign_id,
        name=_name("typification group", name),
        kind=kind,
        position=position,
    )
    session.add(group)
    await session.flush()
    return group


async def add_result(
    session: AsyncSession,
    group_id: int,
    name: str,
    *,
    retry_after_seconds: int | None = None,
    max_attempts: int | None = None,
    is_final: bool = False,
    is_success: bool = False,
    form_id: int | None = None,
    position: int = 0,
) -> TypificationResult:
    group: TypificationGroup = await _get(
        session, TypificationGroup, group_id, "typification group"
    )
    if retry_after_seconds is not None and retry_after_seconds < 0:
        raise InvalidSetting("typification result", "retry_after_seconds", "must be >= 0")
    if max_attempts is not None and max_attempts < 1:
        raise InvalidSetting("typification result", "max_attempts", "must be >= 1")
    if form_id is not None:
        form: TypificationForm = await _get(session, TypificationForm, form_id, "form")
        if form.campaign_id != group.campaign_id:
            raise InvalidSetting("typification result", "form_id", "form of another campaign")
    result = TypificationResult(
        group_id=group_id,
        name=_name("typification result", name),
        retry_after_seconds=retry_after_seconds,
        max_attempts=max_attempts,
        is_final=is_final,
        is_success=is_success,
        form_id=form_id,
        position=position,
    )
    session.add(result)
    await session.flush()
    return result


async def add_motive(session: AsyncSession, result_id: int, name: str) -> TypificationMotive:
    await _get(session, TypificationResult, result_id, "typification result")
    motive = TypificationMotive(result_id=result_id, name=_name("motive", name))
    session.add(motive)
    await session.flush()
    return motive


async def add_submotive(session: AsyncSession, motive_id: int, name: str) -> TypificationSubmotive:
    await _get(session, TypificationMotive, motive_id, "motive")
    submotive = TypificationSubmotive(motive_id=motive_id, name=_name("submotive", name))
    session.add(submotive)
    await session.flush()
    return submotive


async def add_form(
    session: AsyncSession, campaign_id: int, name: str, *, conversation_level: bool = False
) -> TypificationForm:
    await _get(session, Campaign, campaign_id, "campaign")
    form = TypificationForm(
        campaign_id=campaign_id, name=_name("form", name), conversation_level=conversation_level
    )
    session.add(form)
    await session.flush()
    return form


async def add_form_field(
    session: AsyncSession,
    form_id: int,
    name: str,
    *,
    label: str = "",
    field_type: FieldType | str = FieldType.TEXT,
    mandatory: bool = False,
    options: list[Any] | None = None,
    position: int = 0,
) -> FormField:
    await _get(session, TypificationForm, form_id, "form")
    try:
        field_type = FieldType(field_type)
    except ValueError:
        raise InvalidSetting(
            "form field", "field_type", f"{field_type!r} is not a field type"
        ) from None
    if field_type == FieldType.CHOICE and not options:
        raise InvalidSetting("form field", "options", "a choice field needs options")
    field = FormField(
        form_id=form_id,
        name=_name("form field", name),
        label=label or name,
        field_type=field_type,
        mandatory=mandatory,
        options=list(options or []),
        position=position,
    )
    session.add(field)
    await session.flush()
    return field


async def delete_result(session: AsyncSession, result_id: int) -> None:
    """Refused for the last result of a predictive campaign's no-contact group (seed 004)."""
    result: TypificationResult = await _get(
        session, TypificationResult, result_id, "typification result"
    )
    group: TypificationGroup = await _get(session, TypificationGroup, result.group_id, "group")
    campaign: Campaign = await _get(session, Campaign, group.campaign_id, "campaign")
    if group.kind == GroupKind.NO_CONTACT and campaign.dial_mode == DialMode.PREDICTIVE:
        others = await session.scalar(
            select(func.count())
            .select_from(TypificationResult)
            .join(TypificationGroup, TypificationGroup.id == TypificationResult.group_id)
            .where(
                TypificationGroup.campaign_id == campaign.id,
                TypificationGroup.kind == GroupKind.NO_CONTACT,
                TypificationResult.id != result_id,
            )
        )
        if not others:
            raise InvalidSetting(
                "typification result",
                "id",
                f"result {result_id} is the last no-contact result of predictive campaign "
                f"{campaign.id}; the predictive strategy needs one",
            )
    await session.delete(result)
    await session.flush()


async def map_outcome(
    session: AsyncSession, campaign_id: int, outcome: CallOutcome | str, result_id: int
) -> None:
    """Record calls that end with ``outcome`` (never reaching an agent) under ``result_id``,
    a result of the campaign's no-contact group."""
    try:
        outcome = CallOutcome(outcome)
    except ValueError:
        raise InvalidSetting(
            "no-contact mapping", "outcome", f"unknown outcome {outcome!r}"
        ) from None
    if outcome == CallOutcome.ANSWERED:
        raise InvalidSetting("no-contact mapping", "outcome", "an answered call is a contact")
    result: TypificationResult = await _get(
        session, TypificationResult, result_id, "typification result"
    )
    group: TypificationGroup = await _get(session, TypificationGroup, result.group_id, "group")
    if group.campaign_id != campaign_id or group.kind != GroupKind.NO_CONTACT:
        raise InvalidSetting(
            "no-contact mapping",
            "result_id",
            f"result {result_id} is not in campaign {campaign_id}'s no-contact group",
        )
    row = await session.get(NoContactMapping, (campaign_id, outcome))
    if row is None:
        session.add(NoContactMapping(campaign_id=campaign_id, outcome=outcome, result_id=result_id))
    else:
        row.result_id = result_id
    await session.flush()


async def no_contact_result(
    session: AsyncSession, campaign_id: int, outcome: CallOutcome
) -> TypificationResult | None:
    """The result that records ``outcome``: the mapped one, else the first result of the
    campaign's no-contact group, else None (and None for an answered call)."""
    if outcome == CallOutcome.ANSWERED:
        return None
    # Remembered for the session: a batch of outcomes written in one transaction looks the
    # same few mappings up again and again. The rows themselves are kept: the identity map
    # holds only what something else references.
    memo = _no_contact_memo(session)
    key = (campaign_id, outcome)
    if key in memo:
        return memo[key]
    found = memo[key] = await _no_contact_result(session, campaign_id, outcome)
    return found


def _no_contact_memo(
    session: AsyncSession,
) -> dict[tuple[int, CallOutcome], TypificationResult | None]:
    memo: dict[tuple[int, CallOutcome], TypificationResult | None] = session.info.setdefault(
        "no_contact_results", {}
    )
    return memo


async def remember_no_contact_results(session: AsyncSession, campaign_id: int) -> None:
    """Look every outcome's no-contact result of the campaign up at once (two queries), for
    the :func:`no_contact_result` calls that follow in the session (a batch of outcomes)."""
    memo = _no_contact_memo(session)
    outcomes = [o for o in CallOutcome if o != CallOutcome.ANSWERED]
    if all((campaign_id, o) in memo for o in outcomes):
        return
    mapped = {
        outcome: result
        for outcome, result in await session.execute(
            select(NoContactMapping.outcome, TypificationResult)
            .join(TypificationResult, NoContactMapping.result_id == TypificationResult.id)
            .where(NoContactMapping.campaign_id == campaign_id)
        )
    }
    first = await _first_no_contact_result(session, campaign_id)
    for outcome in outcomes:
        memo[(campaign_id, outcome)] = mapped.get(outcome) or first


async def _no_contact_result(
    session: AsyncSession, campaign_id: int, outcome: CallOutcome
) -> TypificationResult | None:
    mapped = await session.scalar(
        select(TypificationResult)
        .join(NoContactMapping, NoContactMapping.result_id == TypificationResult.id)
        .where(NoContactMapping.campaign_id == campaign_id, NoContactMapping.outcome == outcome)
    )
    if mapped is not None:
        return mapped
    return await _first_no_contact_result(session, campaign_id)


async def _first_no_contact_result(
    session: AsyncSession, campaign_id: int
) -> TypificationResult | None:
    result: TypificationResult | None = await session.scalar(
        select(TypificationResult)
        .join(TypificationGroup, TypificationGroup.id == TypificationResult.group_id)
        .where(
            TypificationGroup.campaign_id == campaign_id,
            TypificationGroup.kind == GroupKind.NO_CONTACT,
        )
        .order_by(
            TypificationGroup.position,
            TypificationGroup.id,
            TypificationResult.position,
            TypificationResult.id,
        )
        .limit(1)
    )
    return result


async def result_in_campaign(
    session: AsyncSession, campaign_id: int, result_id: int
) -> TypificationResult:
    result: TypificationResult = await _get(
        session, TypificationResult, result_id, "typification result"
    )
    group: TypificationGroup = await _get(session, TypificationGroup, result.group_id, "group")
    if group.campaign_id != campaign_id:
        raise InvalidSetting(
            "typification", "result_id", f"result {result_id} is not in campaign {campaign_id}"
        )
    return result


async def mandatory_fields(
    session: AsyncSession, campaign_id: int, result_id: int | None
) -> list[str]:
    """Names of the mandatory fields of the result's form and the conversation-level forms."""
    form_ids = select(TypificationForm.id).where(
        TypificationForm.campaign_id == campaign_id, TypificationForm.conversation_level
    )
    query = select(FormField.name).where(FormField.mandatory)
    if result_id is not None:
        result_form = select(TypificationResult.form_id).where(TypificationResult.id == result_id)
        query = query.where(FormField.form_id.in_(form_ids) | FormField.form_id.in_(result_form))
    else:
        query = query.where(FormField.form_id.in_(form_ids))
    return sorted(set(await session.scalars(query)))


async def tree(session: AsyncSession, campaign_id: int) -> list[dict[str, Any]]:
    """The whole tree as plain values, groups > results > motives > submotives."""
    groups = list(
        await session.scalars(
            select(TypificationGroup)
            .where(TypificationGroup.campaign_id == campaign_id)
            .order_by(TypificationGroup.position, TypificationGroup.id)
        )
    )
    results = list(
        await session.scalars(
            select(TypificationResult)
            .where(TypificationResult.group_id.in_([g.id for g in groups]))
            .order_by(TypificationResult.position, TypificationResult.id)
        )
    )
    motives = list(
        await session.scalars(
            select(TypificationMotive)
            .where(TypificationMotive.result_id.in_([r.id for r in results]))
            .order_by(TypificationMotive.id)
        )
    )
    submotives = list(
        await session.scalars(
            select(TypificationSubmotive)
            .where(TypificationSubmotive.motive_id.in_([m.id for m in motives]))
            .order_by(TypificationSubmotive.id)
        )
    )
    out = []
    for g in groups:
        out.append(
            {
                "id": g.id,
                "name": g.name,
                "kind": g.kind.value,
                "results": [
                    {
                        "id": r.id,
                        "name": r.name,
                        "retry_after_seconds": r.retry_after_seconds,
                        "max_attempts": r.max_attempts,
                        "is_final": r.is_final,
                        "motives": [
                            {
                                "id": m.id,
                                "name": m.name,
                                "submotives": [
                                    {"id": s.id, "name": s.name}
                                    for s in submotives
                                    if s.motive_id == m.id
                                ],
                            }
                            for m in motives
                            if m.result_id == r.id
                        ],
                    }
                    for r in results
                    if r.group_id == g.id
                ],
            }
        )
    return out

"""`show`: a customer's profile and journeys as a readable timeline, or as one JSON document.

Identifier values appear only in their stored form: whole hashes in JSON, the first characters
in the text, `***` when hashing is turned off (the stored value is then the raw one). Handoffs
are marked between consecutive touches of a journey by event time, as SPEC §7.4 defines them:
another channel is a `channel_switch`; the same channel with two different device ids a
`device_switch`.
"""

from __future__ import annotations

from typing import Any

from journey_stitcher.identity.model import Profile
from journey_stitcher.identity.resolver import REF_PREFIX
from journey_stitcher.journeys.engine import handoff_kind
from journey_stitcher.journeys.model import Journey, Touch
from journey_stitcher.ops.footprint import Footprint
from journey_stitcher.ops.subject import abbreviate
from journey_stitcher.outputs import rfc3339

__all__ = ["NOTHING_OPEN", "render_text", "timeline"]

NOTHING_OPEN = ("no open or completed journey is in the state: journeys leave it once idle for "
                "their family's window (abandoned or closed); their events went to the journeys "
                "topic")


def timeline(footprint: Footprint, subject: str, hashing: bool) -> dict[str, Any]:
    """The document `show --json` prints (the text is rendered from it)."""
    journeys = sorted(((cid, journey) for cid, state in footprint.states.items()
                       for journey in state.journeys),
                      key=lambda item: (item[1].touches[0].occurred_at, item[1].id))
    return {
        "subject": subject,
        "customer_id": footprint.survivor,
        "requested_customer_id": footprint.requested,
        "profile": _profile(footprint.profile, hashing),
        "aliases": footprint.aliases,
        "isolated_customers": footprint.isolated,
        "journeys": [_journey(cid, journey, hashing) for cid, journey in journeys],
        "note": None if journeys else NOTHING_OPEN,
    }


def _profile(profile: Profile | None, hashing: bool) -> dict[str, Any] | None:
    if profile is None:
        return None
    references: dict[str, int] = {}
    for ref in profile.refs:
        name = ref.removeprefix(REF_PREFIX).split(":", 1)[0]
        references[name] = references.get(name, 0) + 1
    return {
        "created_at": rfc3339(profile.created_at),
        "merges": profile.merges,
        "identifiers": {kind: [value if hashing else "***" for value in values]
                        for kind, values in profile.identifiers.items() if values},
        "references": references,
    }


def _journey(cid: str, journey: Journey, hashing: bool) -> dict[str, Any]:
    touches = sorted(journey.touches)
    return {
        "journey_id": journey.id,
        "customer_id": cid,
        "family": journey.family,
        "status": journey.status,
        "completed_at": rfc3339(journey.completed_at) if journey.completed_at else None,
        "refs": journey.refs,
        "touches": [_touch(touch, touches[i - 1] if i else None, hashing)
                    for i, touch in enumerate(touches)],
    }


def _touch(touch: Touch, previous: Touch | None, hashing: bool) -> dict[str, Any]:
    device = touch.device_id
    return {
        "occurred_at": touch.at or rfc3339(touch.occurred_at),
        "channel": touch.channel,
        "touchpoint": touch.touchpoint,
        "device_id": device if device is None or hashing else "***",
        "event_id": touch.event_id,
        "handoff": handoff_kind(previous, touch) if previous is not None else None,
        "from_channel": previous.channel if previous is not None else None,
    }


# -- text ------------------------------------------------------------------------------------

def render_text(document: dict[str, Any]) -> str:
    """The timeline for a terminal."""
    lines = [f"customer {document['customer_id']} (found by {document['subject']})"]
    if document["requested_customer_id"]:
        lines.append(f"  {document['requested_customer_id']} was merged into it")
    lines += _profile_lines(document["profile"])
    if document["aliases"]:
        lines.append(f"  aliases merged into it: {', '.join(document['aliases'])}")
    if document["isolated_customers"]:
        lines.append("  isolated customer of this identifier (consent refused): "
                     + ", ".join(document["isolated_customers"]))
    journeys = document["journeys"]
    lines.append("")
    if not journeys:
        lines.append(document["note"])
        return "\n".join(lines)
    opened = sum(1 for j in journeys if j["status"] == "open")
    lines.append(f"{len(journeys)} journey(s) in the state: {opened} open, "
                 f"{len(journeys) - opened} completed")
    for journey in journeys:
        lines += ["", *_journey_lines(journey, document["customer_id"])]
    return "\n".join(lines)


def _profile_lines(profile: dict[str, Any] | None) -> list[str]:
    if profile is None:
        return ["  no profile in the identity graph"]
    identifiers = ", ".join(
        f"{kind} ×{len(values)} ({' '.join(_short(v) for v in values)})"
        for kind, values in profile["identifiers"].items()) or "none"
    references = ", ".join(f"{name} ×{count}" for name, count in profile["references"].items())
    lines = [f"  created {profile['created_at']}, {profile['merges']} merge(s) into it",
             f"  identifiers: {identifiers}"]
    if references:
        lines.append(f"  owned references: {references}")
    return lines


def _journey_lines(journey: dict[str, Any], survivor: str) -> list[str]:
    head = f"journey {journey['journey_id']}  {journey['family']}  {journey['status']}"
    if journey["completed_at"]:
        head += f" at {journey['completed_at']}"
    if journey["customer_id"] != survivor:
        head += f"  (still kept under {journey['customer_id']})"
    refs = " ".join(f"{name}={','.join(values)}" for name, values in journey["refs"].items())
    lines = [head + (f"  refs {refs}" if refs else "")]
    rows = [(t["occurred_at"], t["channel"], t["touchpoint"],
             f"device {_short(t['device_id'])}" if t["device_id"] else "-",
             f"event {t['event_id']}", _handoff_mark(t)) for t in journey["touches"]]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)]
        lines.append(("  " + "  ".join(cells) + ("  " + row[5] if row[5] else "")).rstrip())
    return lines


def _handoff_mark(touch: dict[str, Any]) -> str:
    if touch["handoff"] == "channel_switch":
        return f"<- handoff: {touch['from_channel']} -> {touch['channel']}"
    if touch["handoff"] == "device_switch":
        return "<- handoff: device switch"
    return ""


def _short(value: str) -> str:
    return value if value == "***" else abbreviate(value, hashing=True)

"""Human messages in Bahasa Indonesia (the default) and English."""

from __future__ import annotations

from typing import Literal

Lang = Literal["id", "en"]
DEFAULT_LANG: Lang = "id"

MESSAGES: dict[str, dict[str, str]] = {
    "leave_now": {
        "id": "Berangkat sekarang: menunda tidak mempersingkat perjalanan.",
        "en": "Leave now: waiting would not make the trip shorter.",
    },
    "leave_at": {
        "id": "Berangkat pukul {time} untuk menghemat {minutes} menit.",
        "en": "Leave at {time} to save {minutes} minutes.",
    },
    "via": {"id": "lewat {streets}", "en": "via {streets}"},
    "jam": {
        "id": "Macet total di {street}: {speed} km/jam (normal {free} km/jam).",
        "en": "Traffic jam on {street}: {speed} km/h (normally {free} km/h).",
    },
    "anomaly": {
        "id": "Gangguan lalu lintas di {street}: {speed} km/jam, jauh di bawah biasanya "
        "({usual} km/jam) pada jam ini.",
        "en": "Possible incident on {street}: {speed} km/h, far below the usual "
        "{usual} km/h at this time.",
    },
    "unnamed_street": {"id": "jalan tanpa nama", "en": "unnamed street"},
    "level.free": {"id": "lancar", "en": "free flow"},
    "level.moderate": {"id": "ramai lancar", "en": "moderate"},
    "level.heavy": {"id": "padat", "en": "heavy"},
    "level.jammed": {"id": "macet", "en": "jammed"},
    "level.unknown": {"id": "tidak diketahui", "en": "unknown"},
    # errors (api/ turns them into 4xx details)
    "err.invalid": {
        "id": "Koordinat {which} tidak valid: {detail}",
        "en": "Invalid {which} coordinate: {detail}",
    },
    "err.outside": {
        "id": "Titik {which} berada di luar wilayah layanan Kota Tangerang.",
        "en": "The {which} point is outside the Kota Tangerang service area.",
    },
    "err.far": {
        "id": "Titik {which} terlalu jauh ({distance} m) dari jalan terdekat.",
        "en": "The {which} point is too far ({distance} m) from the nearest road.",
    },
    "err.no_route": {
        "id": "Tidak ada rute dari titik asal ke titik tujuan.",
        "en": "There is no route from the origin to the destination.",
    },
    "err.rate_limited": {
        "id": "Terlalu banyak permintaan; coba lagi dalam {seconds} detik.",
        "en": "Too many requests; try again in {seconds} seconds.",
    },
    "err.not_ready": {
        "id": "Data lalu lintas belum siap; coba lagi sebentar lagi.",
        "en": "Traffic data is not ready yet; try again shortly.",
    },
    "which.origin": {"id": "asal", "en": "origin"},
    "which.destination": {"id": "tujuan", "en": "destination"},
}


def t(key: str, lang: Lang = DEFAULT_LANG, **kwargs: object) -> str:
    """The message ``key`` in ``lang``, formatted with ``kwargs``."""
    entry = MESSAGES[key]
    return entry.get(lang, entry[DEFAULT_LANG]).format(**kwargs)


def parse_accept_language(header: str | None, default: Lang = DEFAULT_LANG) -> Lang:
    """The best of "id"/"en" for an ``Accept-Language`` header (RFC 9110 q-values)."""
    if not header:
        return default
    best: tuple[float, int, Lang] | None = None
    for pos, part in enumerate(header.split(",")):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        q = 1.0
        for b in bits[1:]:
            b = b.strip()
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        primary = tag.split("-")[0]
        lang: Lang | None = "id" if primary in ("id", "in") else "en" if primary == "en" else None
        if lang is None or q <= 0:
            continue
        if best is None or (q, -pos) > (best[0], -best[1]):
            best = (q, pos, lang)
    return best[2] if best else default

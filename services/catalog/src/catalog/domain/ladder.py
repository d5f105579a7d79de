"""Encoding ladders: every title is encoded many ways (codec x resolution x bitrate) and a
manifest picks the rungs a device can play within its measured bandwidth."""

import math
from dataclasses import dataclass

from stackkit.errors import Invalid

# Most efficient first: at the same quality AV1 needs the fewest bits, H.264 the most.
CODECS = ("av1", "hevc", "h264")
_CODEC_COST = {"av1": 0.6, "hevc": 0.75, "h264": 1.0}
RESOLUTIONS = ((320, 180), (640, 360), (960, 540), (1280, 720), (1920, 1080), (3840, 2160))
_H264_KBPS = {
    180: (200, 300, 400),
    360: (600, 800, 1000),
    540: (1200, 1600, 2000),
    720: (2500, 3200, 4000),
    1080: (4500, 6000, 8000),
    2160: (12000, 16000, 20000),
}
# Leave headroom so a bandwidth dip does not stall playback.
BANDWIDTH_SAFETY = 0.8
MAX_BANDWIDTH_KBPS = 10_000_000  # 10 Gbit/s: anything above is a measurement error


@dataclass(frozen=True, slots=True)
class Variant:
    codec: str
    width: int
    height: int
    bitrate_kbps: int

    @property
    def id(self) -> str:
        return f"{self.codec}-{self.height}p-{self.bitrate_kbps}k"


@dataclass(frozen=True)
class DeviceProfile:
    codecs: frozenset[str]
    max_height: int

    @classmethod
    def parse(cls, codecs: list[str], max_height: int) -> "DeviceProfile":
        unknown = sorted(set(codecs) - set(CODECS))
        if not codecs or unknown:
            raise Invalid(f"codecs must be some of {list(CODECS)}; got {codecs}", param="codecs")
        if max_height < RESOLUTIONS[0][1] or max_height > 4320:
            raise Invalid("max_height must be between 180 and 4320", param="max_height")
        return cls(frozenset(codecs), max_height)


def ladder() -> list[Variant]:
    """Every title's variants: 3 codecs x 6 resolutions x 3 bitrates."""
    return [
        Variant(codec, width, height, round(kbps * _CODEC_COST[codec]))
        for codec in CODECS
        for width, height in RESOLUTIONS
        for kbps in _H264_KBPS[height]
    ]


def manifest(
    variants: list[Variant], device: DeviceProfile, bandwidth_kbps: float
) -> list[Variant]:
    """The rungs to offer, lowest first: the device's best codec, heights it can show, and
    bitrates that fit the bandwidth (the lowest rung always, so playback can start)."""
    if not math.isfinite(bandwidth_kbps) or not 0 < bandwidth_kbps <= MAX_BANDWIDTH_KBPS:
        raise Invalid(
            f"bandwidth_kbps must be between 0 and {MAX_BANDWIDTH_KBPS}", param="bandwidth_kbps"
        )
    codec = next(c for c in CODECS if c in device.codecs)
    playable = sorted(
        (v for v in variants if v.codec == codec and v.height <= device.max_height),
        key=lambda v: (v.bitrate_kbps, v.height),
    )
    budget = bandwidth_kbps * BANDWIDTH_SAFETY
    fitting = [v for v in playable if v.bitrate_kbps <= budget]
    return fitting or playable[:1]

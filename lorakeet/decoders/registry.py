"""The one table of built-in decoders, by name.

JavaScript codecs are not in this table: they are compiled per device or device type
from source held in the registry database (see :mod:`lorakeet.decoders.javascript`).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import (
    cayenne,
    cbor_payload,
    comtac,
    digital_matter,
    dingtek,
    dragino,
    elsys,
    lorakeet_devices,
    milesight,
    netvox,
    network,
)
from .errors import UnknownDecoderError
from .types import Decoder


@dataclass(frozen=True, slots=True)
class DecoderInfo:
    """A registered decoder and what it is for."""

    name: str
    decode: Decoder
    description: str
    family: str = "generic"


_ENTRIES: tuple[DecoderInfo, ...] = (
    DecoderInfo("network", network.decode, "the network server's decoded_payload / object"),
    DecoderInfo("cayenne_lpp", cayenne.decode, "Cayenne LPP, extended type table"),
    # Self-describing CBOR (cbor_payload.py) and Lorakeet's reference devices (lorakeet_devices.py)
    DecoderInfo("cbor", cbor_payload.decode, "self-describing CBOR: quantity -> value, {v, u}, samples"),
    DecoderInfo("lorakeet_bin", lorakeet_devices.decode_bin, "Lorakeet reference bin sensor", "bin"),
    DecoderInfo("lorakeet_tracker", lorakeet_devices.decode_tracker, "Lorakeet boat tracker", "tracker"),
    DecoderInfo("lorakeet_light", lorakeet_devices.decode_light, "Lorakeet street light", "light"),
    # Dragino (dragino.py): distance sensors, GPS tracker, I/O controller
    DecoderInfo("dragino_ldds75", dragino.decode_ldds75, "Dragino LDDS75 ultrasonic distance", "bin"),
    DecoderInfo("dragino_ldds20", dragino.decode_ldds20, "Dragino LDDS20 ultrasonic liquid level", "bin"),
    DecoderInfo("dragino_ldds04", dragino.decode_ldds04, "Dragino LDDS04 4-channel distance", "bin"),
    DecoderInfo("dragino_llds12", dragino.decode_llds12, "Dragino LLDS12 LiDAR ToF distance", "bin"),
    DecoderInfo("dragino_lgt92", dragino.decode_lgt92, "Dragino LGT-92 GPS tracker", "tracker"),
    DecoderInfo("dragino_lt22222_l", dragino.decode_lt22222_l, "Dragino LT-22222-L I/O controller", "light"),
    # Milesight (milesight.py): channel/type TLV, one table per model
    DecoderInfo("milesight_em310_udl", milesight.decode_em310_udl, "Milesight EM310-UDL distance", "bin"),
    DecoderInfo("milesight_em400_udl", milesight.decode_em400_udl, "Milesight EM400-UDL distance", "bin"),
    DecoderInfo("milesight_em400_tld", milesight.decode_em400_tld, "Milesight EM400-TLD ToF distance", "bin"),
    DecoderInfo("milesight_em500_lgt", milesight.decode_em500_lgt, "Milesight EM500-LGT light", "light"),
    DecoderInfo("milesight_ws52x", milesight.decode_ws52x, "Milesight WS52x smart plug", "light"),
    DecoderInfo("milesight_ws202", milesight.decode_ws202, "Milesight WS202 PIR and light", "light"),
    DecoderInfo("milesight_em300_th", milesight.decode_em300_th, "Milesight EM300-TH / EM320-TH temperature"),
    # Dingtek (dingtek.py): bin level sensors
    DecoderInfo("dingtek_df702", dingtek.decode_df702, "Dingtek DF702 waste bin sensor", "bin"),
    DecoderInfo("dingtek_df703", dingtek.decode_df703, "Dingtek DF703 waste bin sensor", "bin"),
    DecoderInfo("dingtek_df555", dingtek.decode_df555, "Dingtek DF555 level sensor", "bin"),
    # Netvox (netvox.py): one generic engine, per-model entries warn on a foreign device type
    DecoderInfo("netvox", netvox.decode, "Netvox common report format, any known device type"),
    DecoderInfo("netvox_r718pe", netvox.decoder_for("R718PE"), "Netvox R718PE distance / fill level", "bin"),
    DecoderInfo("netvox_r720g", netvox.decoder_for("R720G"), "Netvox R720G GPS tracker", "tracker"),
    DecoderInfo("netvox_r718nl1", netvox.decoder_for("R718NL1"), "Netvox R718NL1 current and light", "light"),
    DecoderInfo("netvox_r809a", netvox.decoder_for("R809A"), "Netvox R809A smart plug", "light"),
    DecoderInfo("netvox_r831a", netvox.decoder_for("R831A"), "Netvox R831A relay controller", "light"),
    DecoderInfo("netvox_r718g", netvox.decoder_for("R718G"), "Netvox R718G light sensor", "light"),
    DecoderInfo("netvox_r72615a", netvox.decoder_for("R726 series"), "Netvox R726 series air/water station"),
    # Elsys (elsys.py): one TLV format for the whole range
    DecoderInfo("elsys", elsys.decode, "Elsys ERS / ELT / EMS range: the Elsys TLV payload"),
    # Digital Matter (digital_matter.py) and comtac (comtac.py): GPS trackers
    DecoderInfo("digital_matter_oyster", digital_matter.decode, "Digital Matter Oyster tracker", "tracker"),
    DecoderInfo("comtac_lpn_td1", comtac.decode, "comtac LPN TD1 GPS/Wi-Fi tracker", "tracker"),
)

DECODERS: dict[str, DecoderInfo] = {d.name: d for d in _ENTRIES}


def get_decoder(name: str) -> Decoder:
    """The decoder registered under ``name``; raises UnknownDecoderError."""
    try:
        return DECODERS[name].decode
    except KeyError:
        raise UnknownDecoderError(name) from None

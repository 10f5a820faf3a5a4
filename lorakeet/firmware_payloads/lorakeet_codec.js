// The Things Stack payload formatter (uplink) for Lorakeet's reference devices.
// Byte layouts: SPEC.md. Output keys are Lorakeet quantity names with the unit as their last
// word (distance_m, temperature_C, battery_voltage_V), so any backend reads the unit from
// the key and Lorakeet stores exactly what the native decoders produce (except fill_pct,
// which needs the bin depth from Lorakeet's device registry).
// ES5 only, so that it runs in every formatter engine.

function lkU16(b, i) {
  return (b[i] << 8) | b[i + 1];
}

function lkS16(b, i) {
  var v = lkU16(b, i);
  return v & 0x8000 ? v - 0x10000 : v;
}

function lkU32(b, i) {
  return ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
}

function lkS32(b, i) {
  return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
}

function decodeUplink(input) {
  var b = input.bytes;
  var data = {};
  var warnings = [];
  var size = { 10: 7, 20: 15, 30: 11 }[input.fPort];
  if (size === undefined) {
    return { errors: ["unknown FPort " + input.fPort] };
  }
  if (b.length !== size) {
    return { errors: ["fPort " + input.fPort + " payload is " + size + " bytes, got " + b.length] };
  }
  if (input.fPort === 10) {
    var distance = lkU16(b, 0);
    if (distance === 0xffff) {
      warnings.push("distance: sensor reported no valid echo");
    } else {
      data.distance_m = distance / 1000;
    }
    data.battery_voltage_V = lkU16(b, 2) / 1000;
    var temperature = lkS16(b, 4);
    if (temperature !== -0x8000) {
      data.temperature_C = temperature / 10;
    }
    data.tilt_alarm = (b[6] & 0x01) !== 0;
    data.fire_alarm = (b[6] & 0x02) !== 0;
    data.status = b[6] & 0x04 ? "low_battery" : "ok";
  } else if (input.fPort === 20) {
    var fix = (b[14] & 0x01) !== 0;
    if (fix) {
      data.latitude_deg = lkS32(b, 0) / 1e7;
      data.longitude_deg = lkS32(b, 4) / 1e7;
      data.speed_kmh = lkU16(b, 8) / 10;
      var heading = lkU16(b, 10);
      if (heading !== 0xffff) {
        data.heading_deg = heading;
      }
    }
    data.battery_voltage_V = lkU16(b, 12) / 1000;
    data.gps_fix = fix;
    data.in_motion = (b[14] & 0x02) !== 0;
  } else {
    data.lamp_on = (b[0] & 0x01) !== 0;
    data.dim_level_pct = b[1];
    data.power_W = lkU16(b, 2) / 10;
    data.energy_kWh = lkU32(b, 4) / 1000;
    data.voltage_V = lkU16(b, 8) / 10;
    data.lamp_fault = (b[10] & 0x01) !== 0;
    data.power_fault = (b[10] & 0x02) !== 0;
    data.fault = (b[10] & 0x03) !== 0;
  }
  return { data: data, warnings: warnings };
}

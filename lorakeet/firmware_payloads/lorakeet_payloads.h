/*
 * lorakeet_payloads.h - encoders for Lorakeet's reference device payloads.
 *
 * The byte layouts are specified in SPEC.md next to this file; formats.py is the
 * Python twin and golden_vectors.json pins both to the same bytes.
 *
 * C99 (also compiles as C++ for Arduino / ESP-IDF), header-only, no malloc, no floats.
 * Every encoder writes into a caller-supplied buffer and returns the number of bytes
 * written, or 0 when the buffer is too small or a field is out of range (nothing
 * useful is written then: do not send the buffer).
 *
 *   uint8_t buf[LK_BIN_SIZE];
 *   lk_bin_status_t s = {812, 3312, 215, false, true, false};
 *   size_t n = lk_encode_bin(&s, buf, sizeof buf);   // n == 7, send on fPort LK_BIN_PORT
 */
#ifndef LORAKEET_PAYLOADS_H
#define LORAKEET_PAYLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LK_BIN_PORT 10
#define LK_TRACKER_PORT 20
#define LK_LIGHT_STATUS_PORT 30
#define LK_LIGHT_COMMAND_PORT 31

#define LK_BIN_SIZE 7
#define LK_TRACKER_SIZE 15
#define LK_LIGHT_STATUS_SIZE 11
#define LK_LIGHT_COMMAND_MAX_SIZE 7

/* Sentinels: "not measured". */
#define LK_NO_ECHO 0xFFFFu             /* bin distance: no valid echo */
#define LK_NO_TEMPERATURE INT16_MIN    /* bin temperature: no sensor */
#define LK_NO_HEADING 0xFFFFu          /* tracker heading: unknown */

#define LK_CMD_DIM 0x01u
#define LK_CMD_SWITCH 0x02u
#define LK_CMD_INTERVAL 0x03u
#define LK_INTERVAL_MIN_MINUTES 1u
#define LK_INTERVAL_MAX_MINUTES 10080u

/* Bin fill sensor, fPort 10. */
typedef struct {
    uint16_t distance_mm;    /* 0..65534, or LK_NO_ECHO */
    uint16_t battery_mv;     /* 0..65535 */
    int16_t temperature_dc;  /* 0.1 degC, -32767..32767, or LK_NO_TEMPERATURE */
    bool tilt;
    bool fire;
    bool low_battery;
} lk_bin_status_t;

/* Boat tracker, fPort 20. Position fields are meaningful only with gps_fix. */
typedef struct {
    int32_t latitude_e7;   /* 1e-7 deg, -900000000..900000000 */
    int32_t longitude_e7;  /* 1e-7 deg, -1800000000..1800000000 */
    uint16_t speed_dkmh;   /* 0.1 km/h */
    uint16_t heading_deg;  /* 0..359, or LK_NO_HEADING */
    uint16_t battery_mv;
    bool gps_fix;
    bool in_motion;
} lk_tracker_status_t;

/* Street-light controller status, fPort 30. */
typedef struct {
    bool lamp_on;
    uint8_t dim_pct;      /* 0..100 */
    uint16_t power_dw;    /* 0.1 W */
    uint32_t energy_wh;   /* cumulative Wh */
    uint16_t voltage_dv;  /* 0.1 V */
    bool lamp_fault;
    bool power_fault;
} lk_light_status_t;

/* Street-light command, fPort 31 downlink: set at least one of the has_* flags. */
typedef struct {
    bool has_dim;
    uint8_t dim_pct;        /* 0..100 */
    bool has_switch;
    bool lamp_on;
    bool has_interval;
    uint16_t interval_min;  /* 1..10080 */
} lk_light_command_t;

static inline void lk_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)(v & 0xFFu);
}

static inline void lk_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)((v >> 16) & 0xFFu);
    p[2] = (uint8_t)((v >> 8) & 0xFFu);
    p[3] = (uint8_t)(v & 0xFFu);
}

/* Two's complement bit pattern of a signed value, without implementation-defined casts. */
static inline uint16_t lk_bits16(int16_t v) {
    return v < 0 ? (uint16_t)(65535u - (uint16_t)(-(v + 1))) : (uint16_t)v;
}

static inline uint32_t lk_bits32(int32_t v) {
    return v < 0 ? (uint32_t)(4294967295u - (uint32_t)(-(v + 1))) : (uint32_t)v;
}

static inline size_t lk_encode_bin(const lk_bin_status_t *s, uint8_t *buf, size_t len) {
    if (s == NULL || buf == NULL || len < LK_BIN_SIZE) return 0;
    lk_put_u16(buf, s->distance_mm);
    lk_put_u16(buf + 2, s->battery_mv);
    lk_put_u16(buf + 4, lk_bits16(s->temperature_dc));
    buf[6] = (uint8_t)((s->tilt ? 0x01u : 0u) | (s->fire ? 0x02u : 0u) | (s->low_battery ? 0x04u : 0u));
    return LK_BIN_SIZE;
}

static inline size_t lk_encode_tracker(const lk_tracker_status_t *s, uint8_t *buf, size_t len) {
    if (s == NULL || buf == NULL || len < LK_TRACKER_SIZE) return 0;
    if (s->latitude_e7 < -900000000L || s->latitude_e7 > 900000000L) return 0;
    if (s->longitude_e7 < -1800000000L || s->longitude_e7 > 1800000000L) return 0;
    if (s->heading_deg > 359u && s->heading_deg != LK_NO_HEADING) return 0;
    lk_put_u32(buf, lk_bits32(s->latitude_e7));
    lk_put_u32(buf + 4, lk_bits32(s->longitude_e7));
    lk_put_u16(buf + 8, s->speed_dkmh);
    lk_put_u16(buf + 10, s->heading_deg);
    lk_put_u16(buf + 12, s->battery_mv);
    buf[14] = (uint8_t)((s->gps_fix ? 0x01u : 0u) | (s->in_motion ? 0x02u : 0u));
    return LK_TRACKER_SIZE;
}

static inline size_t lk_encode_light_status(const lk_light_status_t *s, uint8_t *buf, size_t len) {
    if (s == NULL || buf == NULL || len < LK_LIGHT_STATUS_SIZE) return 0;
    if (s->dim_pct > 100u) return 0;
    buf[0] = (uint8_t)(s->lamp_on ? 0x01u : 0u);
    buf[1] = s->dim_pct;
    lk_put_u16(buf + 2, s->power_dw);
    lk_put_u32(buf + 4, s->energy_wh);
    lk_put_u16(buf + 8, s->voltage_dv);
    buf[10] = (uint8_t)((s->lamp_fault ? 0x01u : 0u) | (s->power_fault ? 0x02u : 0u));
    return LK_LIGHT_STATUS_SIZE;
}

static inline size_t lk_encode_light_command(const lk_light_command_t *c, uint8_t *buf, size_t len) {
    size_t n = 0;
    size_t need = 0;
    if (c == NULL || buf == NULL) return 0;
    need = (c->has_dim ? 2u : 0u) + (c->has_switch ? 2u : 0u) + (c->has_interval ? 3u : 0u);
    if (need == 0 || len < need) return 0;
    if (c->has_dim && c->dim_pct > 100u) return 0;
    if (c->has_interval &&
        (c->interval_min < LK_INTERVAL_MIN_MINUTES || c->interval_min > LK_INTERVAL_MAX_MINUTES)) {
        return 0;
    }
    if (c->has_dim) {
        buf[n++] = LK_CMD_DIM;
        buf[n++] = c->dim_pct;
    }
    if (c->has_switch) {
        buf[n++] = LK_CMD_SWITCH;
        buf[n++] = (uint8_t)(c->lamp_on ? 1u : 0u);
    }
    if (c->has_interval) {
        buf[n++] = LK_CMD_INTERVAL;
        lk_put_u16(buf + n, c->interval_min);
        n += 2;
    }
    return n;
}

#ifdef __cplusplus
}
#endif

#endif /* LORAKEET_PAYLOADS_H */

// Settings every scenario reads from the environment (`k6 run -e NAME=value` or the process environment),
// and the pieces of `options` they share.
//
//   BASE_URL       the API (default http://127.0.0.1:8000; the compose stack sets http://app:8000)
//   ADMIN_API_KEY  the operator key: setup() creates the run's tenants with it, teardown() deletes them
//   DURATION       how long the load lasts (e.g. 5s, 2m, 1m30s); each scenario has its own default
//   VUS            virtual users at normal load; each scenario has its own default
//   P95_MS         overrides the scenario's p95 threshold in milliseconds (0 proves a broken SLO fails the run)

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
export const ADMIN_API_KEY = __ENV.ADMIN_API_KEY || '';

const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600 };

// Seconds in a k6-style duration such as "30s", "2m", "1m30s" or "500ms".
export function parseSeconds(text) {
  const value = String(text).trim();
  const parts = value.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g);
  if (!parts || parts.join('') !== value) {
    throw new Error(`DURATION=${value} is not a duration such as 30s, 2m or 1m30s`);
  }
  return parts.reduce((total, part) => {
    const [, amount, unit] = part.match(/^(\d+(?:\.\d+)?)(ms|s|m|h)$/);
    return total + Number(amount) * UNITS[unit];
  }, 0);
}

// The run's duration in seconds: DURATION, else `fallback`.
export function durationSeconds(fallback) {
  return parseSeconds(__ENV.DURATION || fallback);
}

function positiveInteger(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name}=${raw} must be a whole number of at least 1`);
  }
  return value;
}

// Virtual users at normal load: VUS, else `fallback`.
export function vus(fallback) {
  return positiveInteger('VUS', fallback);
}

// A whole-number setting such as TENANTS.
export function count(name, fallback) {
  return positiveInteger(name, fallback);
}

// The p95 threshold in milliseconds: P95_MS when set (0 included), else the scenario's SLO.
export function p95Ms(slo) {
  const raw = __ENV.P95_MS;
  if (raw === undefined || raw === '') {
    return slo;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`P95_MS=${raw} must be a number of milliseconds`);
  }
  return value;
}

// Options common to every scenario.
export const COMMON_OPTIONS = {
  // `url` is left out of the tags on purpose: every /items/{id} would be its own series once results go to
  // Prometheus by remote write. Requests are grouped by their `name` tag (a route template) instead.
  systemTags: ['proto', 'status', 'method', 'name', 'group', 'check', 'error', 'error_code', 'scenario',
    'expected_response'],
  // Creating a tenant clones a schema: many tenants take longer than k6's default 60 s budget on a slow disk.
  setupTimeout: '180s',
  teardownTimeout: '180s',
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

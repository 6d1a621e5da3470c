// The run's own tenants, made and removed through the admin API, so a scenario never touches data it did not
// create and leaves nothing behind.
import http from 'k6/http';
import exec from 'k6/execution';

import { ADMIN_API_KEY, BASE_URL } from './config.js';

// Admin calls carry this tag, and no scenario tag (they run in setup and teardown), so the SLO thresholds,
// which select `{scenario:...}`, measure only the load itself.
const ADMIN_TAGS = { endpoint: 'admin' };

function adminHeaders() {
  return { 'X-ADMIN-KEY': ADMIN_API_KEY, 'Content-Type': 'application/json' };
}

// Stops the run before any load when there is no admin key: without it no tenant can be made.
export function requireAdminKey() {
  if (!ADMIN_API_KEY) {
    exec.test.abort(
      'ADMIN_API_KEY is not set: the scenario creates its own tenants through POST /admin/tenants. ' +
        'Pass the key printed by `app dev` (or the one `app run` was given): k6 run -e ADMIN_API_KEY=... SCRIPT',
    );
  }
}

// A prefix no other run shares. A slug is ^[a-z][a-z0-9_]*$ with at most 43 characters (app.tenants.naming):
// "k6_" + a short scenario name + a base-36 timestamp and random part stays far below that.
export function runPrefix(scenario) {
  const stamp = Date.now().toString(36);
  const random = Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0');
  return `k6_${scenario}_${stamp}${random}`;
}

// Creates `count` tenants `<prefix>_<i>`; each is { slug, token } (the token is shown only in the 201 body).
export function createTenants(prefix, count) {
  const tenants = [];
  for (let i = 0; i < count; i += 1) {
    const slug = `${prefix}_${i}`;
    const response = http.post(`${BASE_URL}/admin/tenants`, JSON.stringify({ slug }), {
      headers: adminHeaders(),
      tags: { ...ADMIN_TAGS, name: 'POST /admin/tenants' },
    });
    if (response.status !== 201) {
      // Remove what this run made so far: a failed setup skips teardown.
      deleteTenants(tenants);
      exec.test.abort(
        `POST ${BASE_URL}/admin/tenants answered ${response.status} for slug ${slug}, not 201 ` +
          `(${response.error || String(response.body).slice(0, 300)}): check BASE_URL and ADMIN_API_KEY`,
      );
    }
    tenants.push({ slug, token: response.json('token') });
  }
  return tenants;
}

// Deletes the run's tenants (schema, data, tokens); a tenant already gone (404) counts as deleted.
export function deleteTenants(tenants) {
  const failures = [];
  for (const tenant of tenants) {
    const response = http.del(`${BASE_URL}/admin/tenants/${tenant.slug}`, null, {
      headers: adminHeaders(),
      tags: { ...ADMIN_TAGS, name: 'DELETE /admin/tenants/{slug}' },
      responseCallback: http.expectedStatuses(204, 404),
    });
    if (response.status !== 204 && response.status !== 404) {
      failures.push(`${tenant.slug}: ${response.status}`);
    }
  }
  if (failures.length > 0) {
    console.error(`tenants not deleted (remove them with DELETE /admin/tenants/{slug}): ${failures.join(', ')}`);
  }
}

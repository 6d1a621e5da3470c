// Basic list: virtual users read one tenant's first page of items as fast as it answers.
// SLO: p95 < 500 ms and under 1 % failed requests.
import { check } from 'k6';

import { createTenants, deleteTenants, requireAdminKey, runPrefix } from './lib/admin.js';
import { COMMON_OPTIONS, durationSeconds, p95Ms, vus } from './lib/config.js';
import { jsonBody, listItems, seedItems } from './lib/items.js';

const LIMIT = 20;
const SEEDED = 20;

export const options = {
  ...COMMON_OPTIONS,
  scenarios: {
    list: { executor: 'constant-vus', vus: vus(10), duration: `${durationSeconds('30s')}s` },
  },
  thresholds: {
    'http_req_duration{scenario:list}': [`p(95)<${p95Ms(500)}`],
    'http_req_failed{scenario:list}': ['rate<0.01'],
    // A run that sent nothing proves nothing; this also puts the scenario's own request rate in the summary.
    'http_reqs{scenario:list}': ['count>0'],
  },
};

export function setup() {
  requireAdminKey();
  const [tenant] = createTenants(runPrefix('list'), 1);
  // A full page to read, as the benchmark does (bench/README.md: GET /items?limit=20 over 20 items).
  seedItems(tenant, SEEDED);
  return { tenants: [tenant] };
}

export default function (data) {
  const response = listItems(data.tenants[0], LIMIT);
  const page = jsonBody(response);
  check(response, {
    'list is 200': (r) => r.status === 200,
    'list holds a full page': () => page !== null && Array.isArray(page.items) && page.items.length === LIMIT,
    'list counts the seeded items': () => page !== null && page.total === SEEDED,
  });
}

export function teardown(data) {
  deleteTenants(data.tenants);
}

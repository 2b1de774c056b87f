import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** The tags operations carry (ApiTags), declared once here with what they group. */
export const API_TAGS = {
  courses: 'Courses and their registration windows',
  enrollment: 'Enrollment requests: ask for a seat, follow the request, withdraw it',
  events: 'The record of every decision, promotion, drop and capacity change',
  'dead-letters': 'Requests that could not be decided, waiting for an operator',
  schedules: "Students' schedules: credit and waitlist limits, time conflicts, operators' overrides",
  webhooks: 'The record pushed to receivers: signed, in commit order per course, at least once',
  health: 'Probes for orchestrators and load balancers; open to anyone',
  operations: 'Metrics for operators and dashboards',
} as const;

const SECURITY_SCHEMES = {
  admin: 'ADMIN_TOKEN, for operator endpoints',
  client:
    'One of CLIENT_TOKENS (the student portal), for every other endpoint but the probes and the docs; ' +
    'the admin token works too. Not needed when CLIENT_TOKENS is unset.',
};

/** The OpenAPI description of the HTTP API, from the controllers' and DTOs' decorators. */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('CourseFlow')
    .setDescription(
      'Course enrollment engine: requests are accepted (202) onto an arbitration queue and decided by ' +
        'allocation workers under a row lock. Poll the Location of a 202 for the outcome. ' +
        'Live events on the /ws WebSocket are described by the AsyncAPI document at /docs/asyncapi.json.',
    )
    .setVersion('1')
    // Relative: the API is wherever this document was fetched from (a generated client sets its baseUrl).
    .addServer('/', 'The server that serves this document');
  for (const [name, description] of Object.entries(API_TAGS)) builder.addTag(name, description);
  // Opaque tokens, not JWTs: addBearerAuth would say bearerFormat JWT.
  for (const [name, description] of Object.entries(SECURITY_SCHEMES)) {
    builder.addSecurity(name, { type: 'http', scheme: 'bearer', description });
  }
  const document = SwaggerModule.createDocument(app, builder.build());
  // An operation that names no scheme (the probes) is open to anyone: say so, rather than leave it unsaid.
  for (const operations of Object.values(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = operations[method];
      if (operation && !operation.security) operation.security = [];
    }
  }
  return document;
}

/** /docs-json serves the document, /docs Swagger UI on it. */
export function serveOpenApi(app: INestApplication): void {
  SwaggerModule.setup('docs', app, openApiDocument(app), { jsonDocumentUrl: 'docs-json' });
}

import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** The OpenAPI description of the HTTP API at /docs-json, and Swagger UI on it at /docs. */
export function serveOpenApi(app: INestApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('CourseFlow')
      .setDescription(
        'Course enrollment engine: requests are accepted (202) onto an arbitration queue and decided by ' +
          'allocation workers under a row lock. Poll the Location of a 202 for the outcome. ' +
          'Live events on the /ws WebSocket are described by the AsyncAPI document at /docs/asyncapi.json.',
      )
      .setVersion('1')
      .addBearerAuth(
        { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, for operator endpoints' },
        'admin',
      )
      .addBearerAuth(
        {
          type: 'http',
          scheme: 'bearer',
          description:
            'One of CLIENT_TOKENS (the student portal), for every other endpoint but the probes and the docs; ' +
            'the admin token works too. Not needed when CLIENT_TOKENS is unset.',
        },
        'client',
      )
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}

# syntax=docker/dockerfile:1.7
# The MCP origin (aws/origin), as ECS runs it. Built by `cdk deploy` from the repository root; the build context
# is what .dockerignore lets through (package files, contract/, aws/origin/), and test/aws/dockerfile.test.ts
# checks that it holds everything `node aws/origin/main.ts` imports.

# Node is pinned to the version the repository pins (package.json devDependency "node"); update both together.
# A tag can be moved: for builds that are reproducible and record which image went out, pin it by digest too, as
# node:<version>-bookworm-slim@sha256:<digest> (`docker buildx imagetools inspect node:<version>-bookworm-slim` prints
# the digest), and let Renovate or Dependabot bump the tag and the digest together.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# Production dependencies only, installed exactly from the lockfile, without running install scripts.
FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# RDS certificates chain to Amazon's RDS CA, which Node does not trust by default (PGSSLMODE=verify-full). Only the
# database pool trusts this bundle (the task sets PGSSLROOTCERT to it): never NODE_EXTRA_CA_CERTS, which would make
# every TLS client of the origin (the edge's key set, Google, AWS, upstreams) trust these private CAs too.
# Not pinned by checksum, on purpose: HTTPS to AWS's own trust store authenticates it, and AWS adds CAs to this bundle
# (new regions, the next CA generation) before databases use them: unpinned, every build takes them in; pinned, each
# change stops every build until someone updates the sum. To pin it for reproducible builds, add
# --checksum=sha256:<sha256sum of the file now at that URL> to this ADD; a build then stops with a checksum mismatch
# whenever AWS changes the bundle: download it, compare its certificates with the previous ones, and update the sum.
ADD --chmod=644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY contract ./contract
COPY aws/origin ./aws/origin
# The origin runs as root, and each stdio child as an unprivileged user of its own (stdio.childUids, 20000 and up,
# no capabilities, no new privileges, a fresh home directory): a child, whatever code it runs, then cannot read the
# origin's environment or memory (the database password, the signing keys ECS puts there) nor another user's child.
# Run as a non-root user instead and every child could (`/proc/<pid>/environ` of the same user); the origin refuses to
# start with child users it cannot switch to. Install stdio servers here (npm install -g …) for fast starts: `npx -y`
# downloads into each child's fresh home.
ENV STDIO_CHILD_UID_FIRST=20000 \
    STDIO_CHILD_UID_COUNT=10000
USER root
EXPOSE 8788
# Liveness for `docker run`; on ECS the task definition carries the same check, and the ALB checks /healthz too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8788) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "aws/origin/main.ts"]

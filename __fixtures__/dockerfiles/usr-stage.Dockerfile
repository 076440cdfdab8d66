# syntax=docker/dockerfile:1
# Most of a stage becomes the image: a Debian stage installs a toolchain with apt and builds a tool into /usr,
# and the image takes its /usr and /etc. The stage before it is part of that filesystem too.
FROM debian:12 AS base
RUN apt-get update && apt-get install -y --no-install-recommends build-essential ca-certificates
RUN make -C /src/tool install PREFIX=/usr

FROM base AS toolchain
RUN apt-get install -y --no-install-recommends libssl-dev && gcc -O2 -o /usr/bin/helper /src/helper.c

FROM busybox:1.37
COPY --from=toolchain /usr/ /usr/
COPY --from=toolchain /etc /etc

# syntax=docker/dockerfile:1.7
FROM debian:12 AS native
RUN apt-get update && apt-get install -y build-essential cmake
WORKDIR /work
COPY scripts/ /work/scripts/
COPY CMakeLists.txt src ./
RUN <<EOF
set -e
mkdir -p build
echo configuring
EOF
RUN ./scripts/build.sh
RUN <<EOF
cd build && cmake .. && cmake --build .
EOF

FROM node:22 AS web
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci

FROM debian:12-slim
COPY --from=native /work/build/tool /usr/local/bin/tool
COPY --from=web /app/dist /srv
COPY <<EOT /usr/local/bin/start.sh
#!/bin/sh
exec tool serve /srv
EOT
RUN chmod +x /usr/local/bin/start.sh

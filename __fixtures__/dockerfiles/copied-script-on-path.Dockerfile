FROM rust:1.82 AS build
COPY build-release.sh /usr/local/bin/
COPY <<EOT /usr/local/bin/compile
#!/bin/sh
cargo build --release
EOT
RUN build-release.sh
RUN compile

FROM build AS packaged
RUN strip target/release/app

FROM scratch
COPY --from=packaged /target/release/app /app

# syntax=docker/dockerfile:1
# The shape of calico's go-build image: a UBI stage installs packages with dnf and compiles tools in place, and
# the image is that stage's whole filesystem copied onto scratch. Moving the stage to $BUILDPLATFORM would put
# the runner's amd64 packages into every image.
ARG UBI_IMAGE=registry.access.redhat.com/ubi9/ubi:latest
FROM ${UBI_IMAGE} AS ubi
ARG TARGETARCH
ARG GO_VERSION=1.25.4
RUN dnf upgrade -y && dnf install -y clang gcc git make openssl && dnf clean all
RUN curl -sfL "https://go.dev/dl/go${GO_VERSION}.linux-${TARGETARCH}.tar.gz" | tar -C /usr/local -xzf -
ENV PATH=/usr/local/go/bin:$PATH
RUN curl -sfL https://github.com/ncopa/su-exec/archive/refs/tags/v0.2.tar.gz | tar -xzf - -C /tmp && \
    make -C /tmp/su-exec-0.2 && cp /tmp/su-exec-0.2/su-exec /usr/bin/
RUN go install sigs.k8s.io/controller-tools/cmd/controller-gen@v0.16.4

FROM scratch
COPY --from=ubi / /
ENV PATH=/usr/local/go/bin:$PATH
ENTRYPOINT ["/bin/bash"]

"""The image build: plan, wheelhouse, buildx build, size gate, build benchmark, base image.

`plan` computes what is built (pure), `build` carries it out; `wheelhouse` fills the
hermetic dependency set the Dockerfile installs; `size` and `blobs` measure the result;
`base_image` and `debian_rootfs` seed the offline Python base; `bench` times builds.
"""

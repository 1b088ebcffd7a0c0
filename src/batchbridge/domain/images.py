"""Container images on a host without a container runtime.

AWS Batch runs a job's ``command`` inside its ``image``; when the definition has no command, the
image's ENTRYPOINT/CMD runs (Docker's rule: the container's command is ENTRYPOINT followed by CMD,
and a job's ``command`` replaces CMD).  batchbridge records the image and runs commands directly on
the host, so an image is given a local meaning by an *image map*: image name -> entrypoint argv.

Resolution of an image reference such as ``123456789012.dkr.ecr.us-east-1.amazonaws.com/print-color:latest``:
the exact string first, then the reference without its tag or digest, then its last path component
(the repository name, ``print-color``).  The effective command is the entrypoint followed by the
job's command.  An image with no entry in the map contributes nothing: the job's command runs as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def image_candidates(image: str) -> list[str]:
    """Names to look ``image`` up by, most specific first."""
    names = [image]
    bare = image.split("@", 1)[0]
    last = bare.rsplit("/", 1)[-1]
    if ":" in last:
        bare = bare[: len(bare) - len(last)] + last.split(":", 1)[0]
    names.append(bare)
    names.append(bare.rsplit("/", 1)[-1])
    return list(dict.fromkeys(names))


def entrypoint_for(image: str, images: Mapping[str, Sequence[str]]) -> list[str]:
    """The local entrypoint that stands for ``image``, or ``[]`` when it has none."""
    for name in image_candidates(image):
        if name in images:
            return list(images[name])
    return []


def effective_command(image: str, command: Sequence[str], images: Mapping[str, Sequence[str]]) -> list[str]:
    """ENTRYPOINT + command, as a container would run it."""
    return entrypoint_for(image, images) + list(command)

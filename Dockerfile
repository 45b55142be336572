FROM python:3.11-slim
WORKDIR /app
# The product only: the YouTube emulator and the demo (the second distribution in
# sandbox/) stay out of the worker image.
COPY pyproject.toml README.md ./
COPY ytsync ./ytsync
COPY workflows ./workflows
COPY activities ./activities
# The commands `ytsync-worker` and `ytsync` (pyproject's [project.scripts]).
RUN pip install --no-cache-dir . && useradd --create-home ytsync
USER ytsync
CMD ["ytsync-worker"]

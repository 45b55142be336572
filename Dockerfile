FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ytsync ./ytsync
COPY workflows ./workflows
COPY activities ./activities
COPY worker.py starter.py ./
RUN pip install --no-cache-dir . && useradd --create-home ytsync
USER ytsync
CMD ["python", "worker.py"]

"""Config files for tests: a profile whose password comes from the environment."""

import yaml

SECRET = "s3cr3t-Pa55-zq81"


def write_config(path, data):
    path.write_text(yaml.safe_dump(data))
    return path

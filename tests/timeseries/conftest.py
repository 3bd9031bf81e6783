import os

import pytest
import torch

torch.set_num_threads(1)  # the test machine is a shared 2-core box


@pytest.fixture(scope="session")
def aeon_data():
    import aeon

    return os.path.join(os.path.dirname(aeon.__file__), "datasets", "data")

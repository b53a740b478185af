"""lmpspot.aws.ec2_console_host_keys and lmpspot.aws.vpc_endpoint_policy against the local AWS.

* The bastion replacement contacts the new instance only with the host key its console
  output shows: an instance whose console shows none (the local AWS's sample output) is
  refused, with the reason.  (The parsing of real cloud-init output is in
  tests/unit/test_console_host_keys.py.)
* The S3 gateway endpoint's policy: check mode predicts without writing, apply writes,
  a second apply (same document, other key order) changes nothing.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_playbook

pytestmark = pytest.mark.integration

PLAYBOOK = "tests/integration/playbooks/host_key_and_endpoint_modules.yml"


def test_host_key_refusal_and_endpoint_policy(moto_server):
    aws = moto_server
    aws.reset()
    ec2 = aws.client("ec2")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-2.s3", VpcEndpointType="Gateway", RouteTableIds=[rt]
    )["VpcEndpoint"]["VpcEndpointId"]
    res = run_playbook(
        PLAYBOOK,
        aws,
        extra_vars={"hk_instance_id": instance, "hk_endpoint_id": endpoint, "hk_bucket": "lmpspot-t-results"},
    )
    assert res.rc == 0, res
    assert "rescued=1" in res.stdout, res
    (ep,) = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint])["VpcEndpoints"]
    assert json.loads(ep["PolicyDocument"])["Statement"][0]["Resource"] == [
        "arn:aws:s3:::lmpspot-t-results",
        "arn:aws:s3:::lmpspot-t-results/*",
    ]

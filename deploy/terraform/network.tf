# The network: one VPC over two zones, public subnets for the k3s node, private subnets for RDS.
#
# No NAT gateway by default. A NAT gateway costs more than the database (~USD 33/month in us-east-1,
# ~USD 38 in eu-central-1, plus USD 0.045-0.052 per GB) and only resources in private subnets need
# it. Here the only such resource is RDS, which needs no internet at all. The k3s node sits in a public
# subnet with an Elastic IP behind a tight security group (80/443 in; 6443 only from admin CIDRs, if any;
# no SSH), which is how it reaches the container registries, GitHub and the AWS APIs. Moving the
# nodes to private subnets behind a load balancer and a NAT is the next step when the cluster grows
# past one node: set enable_nat_gateway = true for the private egress it needs.
#
# Cost: the VPC, subnets, route tables and internet gateway are free; data out to the internet is
# free for the first 100 GB/month (all services together), then ~USD 0.09/GB.

resource "aws_vpc" "main" {
  #checkov:skip=CKV2_AWS_11:VPC flow logs are off to save cost (CloudWatch Logs ingestion ~USD 0.50-0.63/GB on a node that pulls images all day). Trade-off: no packet-level record for forensics; security groups still deny everything not listed. Add an aws_flow_log (REJECT only, to S3) when a compliance need appears.
  cidr_block = var.vpc_cidr

  # RDS endpoints resolve through the VPC resolver; public DNS names for the Elastic IP.
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = "${local.name}-vpc" }
}

# Takes over the VPC's default security group and leaves it without rules, so anything launched
# without an explicit group can talk to nothing.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${local.name}-default-deny" }
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${local.name}-igw" }
}

# Public subnets: the k3s node. No automatic public IPs: the node's only public address is its
# Elastic IP, so nothing else launched here becomes reachable by accident.
resource "aws_subnet" "public" {
  count = length(local.azs)

  vpc_id                  = aws_vpc.main.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  map_public_ip_on_launch = false

  tags = { Name = "${local.name}-public-${local.azs[count.index]}", Tier = "public" }
}

# Private subnets: RDS (its subnet group must span two zones even for a single-AZ instance).
resource "aws_subnet" "private" {
  count = length(local.azs)

  vpc_id                  = aws_vpc.main.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index + 8)
  map_public_ip_on_launch = false

  tags = { Name = "${local.name}-private-${local.azs[count.index]}", Tier = "private" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${local.name}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.main.id
}

resource "aws_route_table_association" "public" {
  count = length(aws_subnet.public)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# Private route table: local VPC traffic only, plus a default route through the NAT gateway when
# enable_nat_gateway is set.
resource "aws_route_table" "private" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${local.name}-private" }
}

resource "aws_route_table_association" "private" {
  count = length(aws_subnet.private)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# Optional NAT: ~USD 32.85/month (us-east-1) / ~USD 37.96 (eu-central-1) + its public IPv4
# (USD 3.65/month) + USD 0.045-0.052 per GB processed. One gateway in one zone: cheaper than one
# per zone, at the price of losing private egress if that zone fails.
resource "aws_eip" "nat" {
  count = var.enable_nat_gateway ? 1 : 0

  domain = "vpc"

  tags = { Name = "${local.name}-nat" }
}

resource "aws_nat_gateway" "main" {
  count = var.enable_nat_gateway ? 1 : 0

  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id

  tags = { Name = "${local.name}-nat" }

  depends_on = [aws_internet_gateway.main]
}

resource "aws_route" "private_nat" {
  count = var.enable_nat_gateway ? 1 : 0

  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.main[0].id
}

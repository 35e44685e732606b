# local-mpi-env.sh — source this before submitting absa jobs to the LOCAL cluster of
# slurm/cluster-up.sh (one machine shown as several Slurm nodes; root; no InfiniBand). sbatch
# passes the environment on to the job (--export=ALL is Slurm's default). Adapted from
# shared/infra/mpi-env.sh. Not for real clusters: there, use your site's Open MPI / UCX settings.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # mpirun refuses root otherwise
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}    # skip the slow probing of ucx/cm/ofi/psm PMLs
# Open MPI's shared-memory BTL (vader) crashes when one host is shown as several Slurm nodes:
# ranks on "n1" and "n2" share the machine but not the node name. Use TCP between all ranks.
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,tcp}
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}  # virtual CPUs > cores
export OMPI_MCA_hwloc_base_binding_policy=${OMPI_MCA_hwloc_base_binding_policy:-none}
# every socket on loopback (Open MPI's out-of-band and TCP BTL, UCX, NCCL)
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo} UCX_TLS=${UCX_TLS:-tcp,self} UCX_TCP_CM_REUSEADDR=y
export NCCL_SOCKET_IFNAME=lo
# absa serve binds loopback on this machine
export ABSA_SERVE_LISTEN=${ABSA_SERVE_LISTEN:-127.0.0.1:0}

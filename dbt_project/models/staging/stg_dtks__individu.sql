{{ stage_identity('dtks__individu') }}

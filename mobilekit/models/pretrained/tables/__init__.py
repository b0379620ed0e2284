"""Every known checkpoint layout, one module per zoo family. Detection tries them in order."""

from mobilekit.models.pretrained.tables import efficientvit, movinet, mvit, swin3d, timesformer, tsm, x3d

LAYOUTS = (*x3d.LAYOUTS, *mvit.LAYOUTS, *timesformer.LAYOUTS, *swin3d.LAYOUTS, *tsm.LAYOUTS, *movinet.LAYOUTS,
           *efficientvit.LAYOUTS)

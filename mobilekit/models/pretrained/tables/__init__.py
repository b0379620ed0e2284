"""Every known checkpoint layout, one module per zoo family. Detection tries them in order."""

from mobilekit.models.pretrained.tables import (efficientvit, i3d_bert, movinet, mvit, nonlocal_r50, swin3d, tea,
                                                timesformer, tsm, vivit, x3d)

LAYOUTS = (*x3d.LAYOUTS, *mvit.LAYOUTS, *timesformer.LAYOUTS, *swin3d.LAYOUTS, *tsm.LAYOUTS, *movinet.LAYOUTS,
           *efficientvit.LAYOUTS, *i3d_bert.LAYOUTS, *nonlocal_r50.LAYOUTS, *tea.LAYOUTS,
           *vivit.LAYOUTS)
